"""Events of the registry service (topic dtks.registry.events; agency copy on dtks.registry.public).

Household events are keyed by household_id and carry full snapshots, so the register as it stood
after any decree is the fold of this topic up to that decree's `determination_issued`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.household import Household
from dtks_contracts.identifiers import DecreeNumber, EntityId, KkNumber
from dtks_contracts.institution import DeterminedAssistance, Institution, RegistrationNumber
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import VillageCode
from dtks_contracts.text import FreeTextCheck, Name
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.upcasting import register
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.programs import Program
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
    # Institutions (#19) in force: absent when none, so a decree without institutions keeps its bytes.
    institutions: int = Field(default=0, ge=0, exclude_if=lambda value: value == 0)


HexKeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class DecreeSignature(ContractModel):
    """The Ministry's Ed25519 signature over the decree's tree head (see dtks_contracts.tree_head)."""

    key_id: HexKeyId = Field(description="First 16 hex digits of SHA-256 over the raw public key")
    algorithm: Literal["ed25519"] = "ed25519"
    value: str = Field(pattern=r"^[0-9a-f]{128}$", description="The 64-byte signature, lower-case hex")


class DeterminationIssued(EventPayload):
    """The Minister's decree fixing the register for a period: which households it registered,
    corrected and deactivated, and a hash of the whole register it puts in force.

    Version 2: ``register_hash`` is the Merkle root of dtks_contracts.merkle (``hash_algorithm``
    says which hash a decree carries: decrees issued under version 1 keep their flat hash, lifted
    unchanged), the decree is chained to the previous decree's number and hash, and its tree head is
    signed. A reader of version 1 must not take a root for a flat hash, hence the new version."""

    event_type: ClassVar[str] = "registry.determination_issued"
    schema_version: ClassVar[int] = 2
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
    tree_size: int | None = Field(
        default=None, ge=0, description="Leaves of the Merkle tree (households, then institutions)"
    )
    previous_decree: DecreeNumber | None = Field(
        default=None, description="The decree of the period before, None for the first"
    )
    previous_register_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{32,128}$", description="That decree's register_hash"
    )
    signature: DecreeSignature | None = None
    changed_leaves: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")], ...] = Field(
        default=(),
        description="The Merkle leaf hash (dtks_contracts.merkle) of each household of `registered`, then "
        "of each of `corrected`, in the same order: lets an auditor whose copy of the log disagrees with "
        "the root name the household it differs on",
    )
    # The institutions section (#19, dtks_contracts.merkle.INSTITUTION_SECTION). Added with defaults
    # and left out of the JSON when empty, so a decree without institutions, and every decree issued
    # before them, keeps its exact bytes.
    institutions_registered: tuple[EntityId, ...] = Field(default=(), exclude_if=lambda value: not value)
    institutions_changed: tuple[EntityId, ...] = Field(default=(), exclude_if=lambda value: not value)
    institutions_closed: tuple[EntityId, ...] = Field(default=(), exclude_if=lambda value: not value)
    institution_leaves: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")], ...] = Field(
        default=(),
        exclude_if=lambda value: not value,
        description="The institutions section's leaf hash of each of `institutions_registered`, then of "
        "each of `institutions_changed`, in the same order (as `changed_leaves` for households)",
    )
    # Institutions' assistance (#19, dtks_contracts.merkle.ASSISTANCE_SECTION): what each institution
    # is to receive, one entry per accepted assistance proposal, sorted by institution then proposal.
    # Left out when empty, as the institutions' fields above, so other decrees keep their bytes.
    institution_assistance: tuple[DeterminedAssistance, ...] = Field(
        default=(), exclude_if=lambda value: not value
    )

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
        if self.changed_leaves and len(self.changed_leaves) != len(self.registered) + len(self.corrected):
            raise ValueError("changed_leaves must give one leaf per registered and corrected household")
        institutions = (*self.institutions_registered, *self.institutions_changed, *self.institutions_closed)
        if len(set(institutions)) != len(institutions):
            raise ValueError("an institution appears twice in the decree")
        if self.institution_leaves and len(self.institution_leaves) != len(
            self.institutions_registered
        ) + len(self.institutions_changed):
            raise ValueError("institution_leaves must give one leaf per registered and changed institution")
        assistance = [a.proposal_id for a in self.institution_assistance]
        if len(set(assistance)) != len(assistance):
            raise ValueError("an assistance proposal appears twice in the decree")
        if (self.previous_decree is None) != (self.previous_register_hash is None):
            raise ValueError("previous_decree and previous_register_hash go together")
        return self


@register(DeterminationIssued.event_type, 1)
def _flat_decree_stays_flat(payload: dict[str, Any]) -> dict[str, Any]:
    # A version 1 decree carries the flat hash and says so in hash_algorithm; it is read as it was
    # issued (no root, chain or signature of its own), never rewritten.
    return payload


class DecreeKeyActivated(EventPayload):
    """The Ministry's decree signing key from now on (key rotation as an event).

    ``endorsement``: the previous key's Ed25519 signature over dtks_contracts.tree_head.key_bytes of
    this key, so a verifier that trusts one key can follow the rotations after it; None for the
    first key, or a rotation whose previous key was lost (then trust the new key by other means)."""

    event_type: ClassVar[str] = "registry.decree_key_activated"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "decree_key"
    aggregate_id_field: ClassVar[str] = "key_id"

    key_id: HexKeyId
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="Raw Ed25519 public key, lower-case hex")
    activated_at: UtcDateTime
    previous_key_id: HexKeyId | None = None
    endorsement: str | None = Field(default=None, pattern=r"^[0-9a-f]{128}$")


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
    # Added with defaults (a compatible change, same version): a program agency acts on these without
    # diffing snapshots. Corrections decreed before they existed could only add programs, never remove.
    programs_added: tuple[Program, ...] = Field(
        default=(), description="Programs the household receives from this decree on and did not before"
    )
    programs_removed: tuple[Program, ...] = Field(
        default=(), description="Programs the household received before this decree and no longer does"
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


class _InstitutionEvent(EventPayload):
    """Institutions (#19) have a section of the register of their own: their events are keyed by
    institution_id, never by a household id, so a household reader folding registry events by
    household_id cannot mistake one for a household."""

    aggregate_type: ClassVar[str] = "institution"
    aggregate_id_field: ClassVar[str] = "institution_id"

    institution_id: EntityId
    decree_number: DecreeNumber
    proposal_id: EntityId


class _InstitutionSnapshotEvent(_InstitutionEvent):
    institution: Institution = Field(description="The record as in force after the decree")

    @model_validator(mode="after")
    def _snapshot_is_of_this_institution(self) -> _InstitutionSnapshotEvent:
        if self.institution.institution_id != self.institution_id:
            raise ValueError("the snapshot's institution_id must be the event's institution_id")
        return self


class InstitutionRegistered(_InstitutionSnapshotEvent):
    event_type: ClassVar[str] = "registry.institution_registered"
    schema_version: ClassVar[int] = 1


class InstitutionChanged(_InstitutionSnapshotEvent):
    event_type: ClassVar[str] = "registry.institution_changed"
    schema_version: ClassVar[int] = 1

    changed_fields: tuple[str, ...] = Field(
        default=(), description="Top-level fields of the record that differ from the previous snapshot"
    )


class InstitutionClosed(_InstitutionEvent):
    event_type: ClassVar[str] = "registry.institution_closed"
    schema_version: ClassVar[int] = 1

    registration_number: RegistrationNumber = Field(
        description="So a reader keyed by the legal entity can act without a look-up"
    )
    reason: ClosureReason


class InstitutionAssistanceDetermined(_InstitutionEvent):
    """One assistance a decree determined for an institution, on its own for the agencies and programs
    that pay it (#19). The decree lists every assistance for everyone; this event reaches a partner
    agency only where its granted regions cover the institution's village, as a household's own event
    does. It names no resident: the count is what a payer needs, the names stay in the register."""

    event_type: ClassVar[str] = "registry.institution_assistance_determined"
    schema_version: ClassVar[int] = 1
    # One event per assistance proposal: its stream is the proposal's, so a decree writes each without
    # reading the institution's stream version (the institution's own events keep theirs).
    aggregate_type: ClassVar[str] = "institution_assistance"
    aggregate_id_field: ClassVar[str] = "proposal_id"

    village_code: VillageCode = Field(
        description="Where the institution is: what an agency's grant is matched on"
    )
    assistance: DeterminedAssistance

    @model_validator(mode="after")
    def _assistance_is_this_one(self) -> InstitutionAssistanceDetermined:
        if (self.assistance.proposal_id, self.assistance.institution_id) != (
            self.proposal_id,
            self.institution_id,
        ):
            raise ValueError("the assistance must be the event's proposal's, for the event's institution")
        return self
