"""What a proposal is and where it comes from."""

from __future__ import annotations

from enum import StrEnum


class ProposalKind(StrEnum):
    NEW_HOUSEHOLD = "new_household"
    CORRECTION = "correction"  # of a registered household; a member's death or move is a correction too
    DEACTIVATION = "deactivation"  # of a whole registered household


class DeactivationReason(StrEnum):
    DIED = "died"  # the last member of the household died
    MOVED_AWAY = "moved_away"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    DUPLICATE = "duplicate"  # the household is registered twice
    NOT_FOUND = "not_found"  # not found at the address by the field visit


class ProposalOrigin(StrEnum):
    """Who started the proposal: a village after its deliberation, or a civil-registry life event."""

    VILLAGE = "village"
    CIVIL_REGISTRY = "civil_registry"


class DeliberationKind(StrEnum):
    MUSDES = "musdes"  # village deliberation (desa)
    MUSKEL = "muskel"  # urban-village deliberation (kelurahan)
