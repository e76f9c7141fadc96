"""What every event payload shares, and the proposal-kind rule several events repeat."""

from __future__ import annotations

from typing import ClassVar

from dtks_contracts.household import Household
from dtks_contracts.model_base import ContractModel
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind


class EventPayload(ContractModel):
    """Base of all payloads. Subclasses name their type, version and aggregate as class variables,
    so the envelope can be filled from the payload alone and nothing is spelt twice."""

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    aggregate_type: ClassVar[str]
    # The payload field holding the aggregate's id (the event store's stream id).
    aggregate_id_field: ClassVar[str]

    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_id_field))


def check_kind_consistency(
    kind: ProposalKind,
    household: Household | None,
    target_household_id: str | None,
    deactivation_reason: DeactivationReason | None,
) -> None:
    """A proposal carries exactly what its kind needs, so consumers never have to guess.

    new household: the household, no target; correction: the corrected household and its target;
    deactivation: the target and a reason, no household.
    """
    if kind is ProposalKind.DEACTIVATION:
        if household is not None:
            raise ValueError("a deactivation carries no household, only target_household_id and a reason")
        if target_household_id is None:
            raise ValueError("a deactivation needs target_household_id")
        if deactivation_reason is None:
            raise ValueError("a deactivation needs deactivation_reason")
        return
    if deactivation_reason is not None:
        raise ValueError(f"deactivation_reason is only for deactivations, not for a {kind}")
    if household is None:
        raise ValueError(f"a {kind} proposal needs the household")
    if kind is ProposalKind.NEW_HOUSEHOLD:
        if target_household_id is not None:
            raise ValueError("a new household has no target_household_id")
        if household.household_id is not None:
            raise ValueError("a new household has no register id yet; leave household.household_id empty")
    else:
        if target_household_id is None:
            raise ValueError("a correction needs target_household_id")
        if household.household_id not in (None, target_household_id):
            raise ValueError(
                f"household.household_id {household.household_id} differs from target_household_id "
                f"{target_household_id}"
            )
