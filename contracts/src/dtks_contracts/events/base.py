"""What every event payload shares, and the proposal-kind rule several events repeat."""

from __future__ import annotations

from typing import ClassVar

from dtks_contracts.household import Household
from dtks_contracts.institution import Assistance, Institution
from dtks_contracts.model_base import ContractModel
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind, ProposalSubject


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
    deactivation: the target and a reason, no household. An institution's kinds carry none of these.
    """
    if kind.subject is ProposalSubject.INSTITUTION:
        for name, value in (
            ("household", household),
            ("target_household_id", target_household_id),
            ("deactivation_reason", deactivation_reason),
        ):
            if value is not None:
                raise ValueError(f"an {kind} proposal carries no {name}")
        return
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


def check_institution_consistency(
    kind: ProposalKind,
    institution: Institution | None,
    target_institution_id: str | None,
    closure_reason: ClosureReason | None,
    assistance: Assistance | None = None,
) -> None:
    """The institution's side of the same rule: registration carries the institution and no target;
    change the changed institution and its target; closure the target and a reason, no record;
    assistance the target and the assistance, no record. A household's kinds carry none of these."""
    if kind.subject is ProposalSubject.HOUSEHOLD:
        for name, value in (
            ("institution", institution),
            ("target_institution_id", target_institution_id),
            ("closure_reason", closure_reason),
            ("assistance", assistance),
        ):
            if value is not None:
                raise ValueError(f"a {kind} proposal carries no {name}")
        return
    if kind is ProposalKind.INSTITUTION_ASSISTANCE:
        if institution is not None or closure_reason is not None:
            raise ValueError("an assistance carries no institution record and no closure_reason")
        if target_institution_id is None:
            raise ValueError("an assistance needs target_institution_id")
        if assistance is None:
            raise ValueError("an assistance proposal needs the assistance")
        return
    if assistance is not None:
        raise ValueError(f"assistance is only for assistance proposals, not for an {kind}")
    if kind is ProposalKind.INSTITUTION_CLOSURE:
        if institution is not None:
            raise ValueError("a closure carries no institution, only target_institution_id and a reason")
        if target_institution_id is None:
            raise ValueError("a closure needs target_institution_id")
        if closure_reason is None:
            raise ValueError("a closure needs closure_reason")
        return
    if closure_reason is not None:
        raise ValueError(f"closure_reason is only for closures, not for an {kind}")
    if institution is None:
        raise ValueError(f"an {kind} proposal needs the institution")
    if kind is ProposalKind.INSTITUTION_REGISTRATION:
        if target_institution_id is not None:
            raise ValueError("a registration has no target_institution_id")
        if institution.institution_id is not None:
            raise ValueError(
                "a new institution has no register id yet; leave institution.institution_id empty"
            )
    else:
        if target_institution_id is None:
            raise ValueError("an institution change needs target_institution_id")
        if institution.institution_id not in (None, target_institution_id):
            raise ValueError(
                f"institution.institution_id {institution.institution_id} differs from target_institution_id "
                f"{target_institution_id}"
            )
