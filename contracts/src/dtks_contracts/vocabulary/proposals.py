"""What a proposal is and where it comes from."""

from __future__ import annotations

from enum import StrEnum


class ProposalKind(StrEnum):
    NEW_HOUSEHOLD = "new_household"
    CORRECTION = "correction"  # of a registered household; a member's death or move is a correction too
    DEACTIVATION = "deactivation"  # of a whole registered household
    # Social welfare institutions (LKS): the same proposal, a different subject (see SUBJECT_OF).
    INSTITUTION_REGISTRATION = "institution_registration"
    INSTITUTION_CHANGE = "institution_change"  # of a registered institution, residents included
    INSTITUTION_CLOSURE = "institution_closure"
    # Assistance for a registered institution (per resident or per institution, a program, a period).
    INSTITUTION_ASSISTANCE = "institution_assistance"

    @property
    def subject(self) -> ProposalSubject:
        return ProposalSubject.INSTITUTION if self in _INSTITUTION_KINDS else ProposalSubject.HOUSEHOLD


class ProposalSubject(StrEnum):
    """What a proposal is about: a household (family card) or a social welfare institution."""

    HOUSEHOLD = "household"
    INSTITUTION = "institution"


_INSTITUTION_KINDS = frozenset(
    {
        ProposalKind.INSTITUTION_REGISTRATION,
        ProposalKind.INSTITUTION_CHANGE,
        ProposalKind.INSTITUTION_CLOSURE,
        ProposalKind.INSTITUTION_ASSISTANCE,
    }
)


class DeactivationReason(StrEnum):
    DIED = "died"  # the last member of the household died
    MOVED_AWAY = "moved_away"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    DUPLICATE = "duplicate"  # the household is registered twice
    NOT_FOUND = "not_found"  # not found at the address by the field visit


class ProposalOrigin(StrEnum):
    """Who started the proposal: a village after its deliberation, a civil-registry life event, or
    (for institutions) the regency's social service."""

    VILLAGE = "village"
    CIVIL_REGISTRY = "civil_registry"
    # An institution's proposal: the regency's social service, or the institution's own operator.
    SOCIAL_SERVICE = "social_service"
    # A re-verification round's field visit found the registered household changed, moved, not found
    # or no longer eligible (verification.reverification_visit_recorded names the proposal).
    RE_VERIFICATION = "re_verification"


class DeliberationKind(StrEnum):
    MUSDES = "musdes"  # village deliberation (desa)
    MUSKEL = "muskel"  # urban-village deliberation (kelurahan)
