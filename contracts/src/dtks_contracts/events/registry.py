"""Events of the registry service (topic dtks.registry.events; agency copy on dtks.registry.public).

Household events are keyed by household_id and carry full snapshots, so the register as it stood
after any decree is the fold of this topic up to that decree's `determination_issued`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.household import Household
from dtks_contracts.identifiers import DecreeNumber, EntityId, KkNumber
from dtks_contracts.model_base import ContractModel
from dtks_contracts.text import FreeTextCheck, Name
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.vocabulary.proposals import DeactivationReason

# Determinations are quarterly and take effect in these months.
QUARTER_START_MONTH = {1: 1, 2: 4, 3: 7, 4: 10}


class Period(ContractModel):
    """A determination period: quarter 1..4 starts in January, April, July, October."""

    year: int = Field(ge=2000, le=2100)
    quarter: int = Field(ge=1, le=4)

    @property
    def starts_on(self) -> dt.date:
        return dt.date(self.year, QUARTER_START_MONTH[self.quarter], 1)

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.quarter}"


class RegisterCounts(ContractModel):
    """Size of the register in force after the decree (active households only)."""

    households: int = Field(ge=0)
    people: int = Field(ge=0)


class DeterminationIssued(EventPayload):
    """The Minister's decree fixing the register for a period: which households it registered,
    corrected and deactivated, and a hash of the whole register it puts in force."""

    event_type: ClassVar[str] = "registry.determination_issued"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "determination"
    aggregate_id_field: ClassVar[str] = "decree_number"

    decree_number: DecreeNumber
    period: Period
    cut_off: UtcDateTime = Field(description="Ministry acceptances up to this instant are in the decree")
    issued_at: UtcDateTime
    registered: tuple[EntityId, ...] = ()
    corrected: tuple[EntityId, ...] = ()
    deactivated: tuple[EntityId, ...] = ()
    register_hash: str = Field(pattern=r"^[0-9a-f]{32,128}$", description="Lower-case hex digest")
    hash_algorithm: Annotated[str, StringConstraints(min_length=1, max_length=1000), FreeTextCheck] = Field(
        description="How register_hash was computed, precisely enough to recompute it"
    )
    counts: RegisterCounts
    issued_by: Actor

    @model_validator(mode="after")
    def _consistent(self) -> DeterminationIssued:
        if self.cut_off > self.issued_at:
            raise ValueError("cut_off must not be after issued_at")
        seen: set[str] = set()
        for name, ids in (
            ("registered", self.registered),
            ("corrected", self.corrected),
            ("deactivated", self.deactivated),
        ):
            for household_id in ids:
                if household_id in seen:
                    # One decree changes a household once; two entries would make the fold ambiguous.
                    raise ValueError(
                        f"household {household_id} appears twice in the decree (again in {name})"
                    )
                seen.add(household_id)
        return self


class _HouseholdEvent(EventPayload):
    aggregate_type: ClassVar[str] = "household"
    aggregate_id_field: ClassVar[str] = "household_id"

    household_id: EntityId


class _SnapshotEvent(_HouseholdEvent):
    decree_number: DecreeNumber
    household: Household = Field(description="The record as in force after the decree")
    proposal_id: EntityId

    @model_validator(mode="after")
    def _snapshot_is_this_household(self) -> _SnapshotEvent:
        if self.household.household_id != self.household_id:
            raise ValueError(
                f"snapshot household_id {self.household.household_id} differs from event household_id "
                f"{self.household_id}"
            )
        return self


class HouseholdRegistered(_SnapshotEvent):
    event_type: ClassVar[str] = "registry.household_registered"
    schema_version: ClassVar[int] = 1


class HouseholdCorrected(_SnapshotEvent):
    event_type: ClassVar[str] = "registry.household_corrected"
    schema_version: ClassVar[int] = 1

    changed_fields: tuple[str, ...] = Field(
        default=(), description="Top-level fields that differ from the previous snapshot, for subscribers"
    )


class HouseholdDeactivated(_HouseholdEvent):
    event_type: ClassVar[str] = "registry.household_deactivated"
    schema_version: ClassVar[int] = 1

    decree_number: DecreeNumber
    kk_number: KkNumber = Field(description="So agencies keyed by family card can act without a look-up")
    reason: DeactivationReason
    proposal_id: EntityId


class WelfareDecileSet(_HouseholdEvent):
    """The welfare decile set centrally (BPS ranking); programs select by it."""

    event_type: ClassVar[str] = "registry.welfare_decile_set"
    schema_version: ClassVar[int] = 1

    decile: int = Field(ge=1, le=10)
    source: Name
    as_of: dt.date
