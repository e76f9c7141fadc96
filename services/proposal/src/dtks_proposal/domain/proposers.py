"""Who may propose what: a village proposes its households; an institution (LKS) is proposed by
the regency's social service or by the institution's own operator.

Region scope (the village lies in the proposer's region) is checked apart, by the same
``ensure_in_scope`` for every role; this module adds what the region cannot say: the kind a role
may enter, and the one institution an institution operator acts for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalSubject
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError

KIND_NOT_ALLOWED = "kind_not_allowed"
OTHER_INSTITUTION = "other_institution"

_PROPOSERS: dict[ProposalSubject, frozenset[Role]] = {
    ProposalSubject.HOUSEHOLD: frozenset({Role.VILLAGE_OPERATOR}),
    ProposalSubject.INSTITUTION: frozenset({Role.REGENCY_OPERATOR, Role.INSTITUTION_OPERATOR}),
}


# A proposal made from a re-verification round's visit is resubmitted, once returned, by the village
# it waits at (as every returned proposal) or by the regency's social service that runs the round.
ROUND_RESUBMITTERS = frozenset({Role.VILLAGE_OPERATOR, Role.REGENCY_OPERATOR})


def proposer_refusal(
    role: Role,
    acting_for: str | None,
    kind: ProposalKind,
    institution_id: str | None,
    *,
    from_round_visit: bool = False,
) -> DomainError | None:
    """Why this role may not enter this proposal, or None. ``acting_for`` is the institution an
    institution operator's token names; ``institution_id`` the registered institution concerned;
    ``from_round_visit``: the proposal was made from a re-verification round's visit."""
    if from_round_visit:
        if role in ROUND_RESUBMITTERS:
            return None
        return DomainError(
            KIND_NOT_ALLOWED,
            f"A round's {kind} proposal is resubmitted by the village operator or the regency's social "
            f"service, not by a {role}.",
        )
    if role not in _PROPOSERS[kind.subject]:
        who = (
            "a village operator"
            if kind.subject is ProposalSubject.HOUSEHOLD
            else ("the regency's social service or the institution's own operator")
        )
        return DomainError(KIND_NOT_ALLOWED, f"A {kind} proposal is entered by {who}, not by a {role}.")
    if role is not Role.INSTITUTION_OPERATOR:
        return None
    if kind is ProposalKind.INSTITUTION_REGISTRATION:
        # The institution has no register id before it is registered, so no operator can yet be
        # scoped to it: its licence comes from the regency, whose social service enters it.
        return DomainError(
            KIND_NOT_ALLOWED,
            "An institution's registration is entered by the regency's social service, which licenses it; "
            "its own operator proposes its changes and closure once it is registered.",
        )
    if institution_id != acting_for:
        return DomainError(
            OTHER_INSTITUTION,
            f"You act for institution {acting_for}; this proposal concerns another institution.",
        )
    return None


def concerns_own_institution(principal: Principal, content: Mapping[str, Any]) -> bool:
    """Whether a reader may see a proposal's content as far as institutions go: an institution
    operator only its own institution's proposals (its village's households are none of its
    business); every other role is limited by region alone."""
    if principal.role is not Role.INSTITUTION_OPERATOR:
        return True
    own = principal.institution_id
    return own is not None and content.get("target_institution_id") == own
