"""Where a proposal stands in verification (verivali), and which decisions it admits.

A round starts when the proposal is submitted or resubmitted: the integrity standard runs first
(`CHECKING`), a pass puts the proposal at the first tier of its kind's path (the district for a
household, the regency for an institution), and each tier either forwards it to the next tier of
that path or returns it to its proposer (`RETURNED`). The Ministry's forward
re-runs the integrity standard (`ACCEPTING` while it waits for the civil registry) and ends in
`ACCEPTED`, or on a failure back in the regency's queue (`IN_TIER` at `REGENCY`): the standard's
failures at the Ministry are the regency social service's to correct, not the village's. A resubmission starts a new round from the start; a withdrawal ends the
proposal. Every refusal is a `Refusal` with a stable code and a sentence to act on; which HTTP
status answers it is the edge's business (`api.ERROR_STATUSES`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from dtks_contracts.regions import contains
from dtks_contracts.vocabulary import TIER_ROLE, ProposalKind, Role, Tier, next_tier, tier_region
from dtks_contracts.vocabulary.tiers import first_tier
from dtks_runtime.errors import DomainError


class Status(StrEnum):
    CHECKING = "checking"  # waiting for the entry integrity checks (possibly for the civil registry)
    IN_TIER = "in_tier"  # in the queue of `tier`
    ACCEPTING = "accepting"  # the Ministry forwarded it; its integrity re-check is running
    RETURNED = "returned"  # back at the village, waiting for a resubmission
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"


class Decision(StrEnum):
    FORWARD = "forward"
    RETURN = "return"


# The interface's tier ids; the regent's tier is the contracts' ratification tier.
API_TIERS: Final[dict[str, Tier]] = {
    "district": Tier.DISTRICT,
    "regency": Tier.REGENCY,
    "regent": Tier.RATIFICATION,
    "province": Tier.PROVINCE,
    "ministry": Tier.MINISTRY,
}
API_TIER_OF: Final[dict[Tier, str]] = {tier: name for name, tier in API_TIERS.items()}


class Refusal(DomainError):
    """A command the verification workflow does not admit; becomes a problem document at the edge."""


def parse_tier(name: str) -> Tier:
    try:
        return API_TIERS[name]
    except KeyError:
        names = ", ".join(API_TIERS)
        raise Refusal("unknown_tier", f"There is no tier {name!r}; the tiers are {names}.") from None


@dataclass(frozen=True)
class VerificationState:
    proposal_id: str
    round: int
    village_code: str
    status: Status
    tier: Tier | None = None
    # The kind decides the tier path (contracts' tier_path): an institution's skips the district
    # and the regent's decree; everything else about the workflow is the same for every kind.
    kind: ProposalKind = ProposalKind.NEW_HOUSEHOLD

    def region_at(self, tier: Tier) -> str:
        return tier_region(tier, self.village_code)


def authorize_at_tier(tier: Tier, role: Role, principal_region: str, village_code: str) -> None:
    """Only the tier's role acts at a tier, and only inside its own region."""
    wanted = TIER_ROLE[tier]
    if role is not wanted:
        raise Refusal(
            "role_not_allowed",
            f"Decisions at the {API_TIER_OF[tier]} tier are taken by {wanted.value}; you act as {role.value}.",
        )
    region = tier_region(tier, village_code)
    if not contains(principal_region, region):
        raise Refusal(
            "outside_region",
            f"This proposal is verified at the {API_TIER_OF[tier]} tier by region {region}, "
            f"outside your scope {principal_region}.",
        )


def ensure_awaits(state: VerificationState, tier: Tier) -> None:
    """The proposal must be in `tier`'s queue right now: no decisions out of turn or on closed proposals."""
    pid = state.proposal_id
    if state.status is Status.WITHDRAWN:
        raise Refusal(
            "proposal_withdrawn", f"Proposal {pid} was withdrawn by its village; nothing to decide."
        )
    if state.status is Status.ACCEPTED:
        raise Refusal("proposal_accepted", f"Proposal {pid} was already accepted by the Ministry.")
    if state.status is Status.RETURNED:
        raise Refusal(
            "proposal_returned",
            f"Proposal {pid} was returned to its village; it comes back when the village resubmits it.",
        )
    if state.status is Status.CHECKING:
        raise Refusal(
            "awaiting_integrity_checks", f"Proposal {pid} is still in its automatic integrity checks."
        )
    if state.status is Status.ACCEPTING:
        raise Refusal(
            "acceptance_in_progress",
            f"Proposal {pid} was forwarded by the Ministry; its re-check is running.",
        )
    if state.tier is not tier:
        assert state.tier is not None
        raise Refusal(
            "out_of_turn",
            f"Proposal {pid} waits at the {API_TIER_OF[state.tier]} tier, not at {API_TIER_OF[tier]}.",
        )


def decide(
    state: VerificationState, tier: Tier, decision: Decision, *, by_decree: bool = False
) -> VerificationState:
    """The state after a tier's decision (authorization is checked separately)."""
    ensure_awaits(state, tier)
    if decision is Decision.RETURN:
        return replace(state, status=Status.RETURNED)
    if tier is Tier.RATIFICATION and not by_decree:
        raise Refusal(
            "ratification_needs_decree",
            "The regent forwards proposals only by ratifying them under a decree: use POST /ratifications.",
        )
    following = next_tier(tier, state.kind)
    if following is None:
        return replace(state, status=Status.ACCEPTING)
    return replace(state, tier=following)


def entry_checked(state: VerificationState, passed: bool) -> VerificationState:
    if passed:
        return replace(state, status=Status.IN_TIER, tier=first_tier(state.kind))
    return replace(state, status=Status.RETURNED)


# Where a proposal that fails the integrity standard at the Ministry goes for correction.
CORRECTING_TIER: Final = Tier.REGENCY


def ministry_checked(state: VerificationState, passed: bool) -> VerificationState:
    if passed:
        return replace(state, status=Status.ACCEPTED)
    return replace(state, status=Status.IN_TIER, tier=CORRECTING_TIER)
