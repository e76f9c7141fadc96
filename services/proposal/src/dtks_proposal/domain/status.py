"""Where a proposal stands, as the village operator sees it, moved by the events of verification
and of the registry.

Verification events carry the round they concern; an event of an earlier round (a decision that
crossed a resubmission) goes into the timeline but does not move the status of the current round.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_contracts.vocabulary.tiers import Tier, first_tier, next_tier


class ProposalStatus(StrEnum):
    SUBMITTED = "submitted"  # entered (or resubmitted), waiting at the first tier
    IN_VERIFICATION = "in_verification"  # forwarded by at least one tier this round
    RETURNED = "returned"  # sent back to the village operator with reasons
    ACCEPTED = "accepted"  # accepted by the Ministry; enters the register at the next decree
    DETERMINED = "determined"  # in force in the register by decree
    WITHDRAWN = "withdrawn"  # withdrawn by the village


WAITING_AT_VILLAGE = "village"  # the tier a returned proposal waits at: its operator's


@dataclass(frozen=True)
class Standing:
    status: ProposalStatus
    round: int
    waiting_at: str | None  # a tier, "village", or None once nothing is awaited

    def can_resubmit(self) -> bool:
        return self.status is ProposalStatus.RETURNED

    def can_withdraw(self) -> bool:
        """Only before the Ministry decided (and not twice)."""
        return self.status in (
            ProposalStatus.SUBMITTED,
            ProposalStatus.IN_VERIFICATION,
            ProposalStatus.RETURNED,
        )


def entered(round_: int, kind: ProposalKind | str = ProposalKind.NEW_HOUSEHOLD) -> Standing:
    """Waiting at the first tier of the kind's path (the district; an institution's: the regency)."""
    return Standing(ProposalStatus.SUBMITTED, round_, first_tier(kind).value)


def withdrawn(standing: Standing) -> Standing:
    return Standing(ProposalStatus.WITHDRAWN, standing.round, None)


def _closed(standing: Standing) -> bool:
    return standing.status in (ProposalStatus.WITHDRAWN, ProposalStatus.DETERMINED)


def verified_at(
    standing: Standing, round_: int, tier: Tier, kind: ProposalKind | str = ProposalKind.NEW_HOUSEHOLD
) -> Standing:
    if round_ != standing.round or _closed(standing) or standing.status is ProposalStatus.ACCEPTED:
        return standing
    after = next_tier(tier, kind)
    return Standing(ProposalStatus.IN_VERIFICATION, standing.round, after.value if after else None)


def returned_at(standing: Standing, round_: int) -> Standing:
    if round_ != standing.round or _closed(standing) or standing.status is ProposalStatus.ACCEPTED:
        return standing
    return Standing(ProposalStatus.RETURNED, standing.round, WAITING_AT_VILLAGE)


def sent_back_for_correction(standing: Standing, round_: int, to_tier: Tier) -> Standing:
    """The Ministry's integrity re-check failed: the proposal waits at ``to_tier`` (the regency's
    social service) for correction; still in verification, so the village does not resubmit it."""
    if round_ != standing.round or _closed(standing) or standing.status is ProposalStatus.ACCEPTED:
        return standing
    return Standing(ProposalStatus.IN_VERIFICATION, standing.round, to_tier.value)


def accepted(standing: Standing, round_: int) -> Standing:
    if round_ != standing.round or _closed(standing):
        return standing
    return Standing(ProposalStatus.ACCEPTED, standing.round, None)


def determined(standing: Standing) -> Standing:
    # The registry acts on the Ministry's acceptance; a withdrawal cannot follow an acceptance.
    return Standing(ProposalStatus.DETERMINED, standing.round, None)
