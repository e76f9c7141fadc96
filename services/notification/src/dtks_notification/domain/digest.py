"""The queue digest: what arrived in one tier's queue for one region since the last digest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from dtks_contracts.vocabulary.tiers import TIER_ROLE, Tier
from dtks_notification.domain.notices import ActorAudience, Notice
from dtks_notification.domain.rules import TIER_NAMES, place

LISTED = 20  # ids spelt out in the message; the rest are counted (the queue view has them all)


def compose_digest(tier: Tier, region: str, proposal_ids: Sequence[str], digest_id: uuid.UUID) -> Notice:
    """One message for the officers of ``tier`` over ``region`` about ``proposal_ids``."""
    ids = sorted(proposal_ids)
    count = len(ids)
    noun = "proposal" if count == 1 else "proposals"
    listed = ", ".join(ids[:LISTED]) + (f" and {count - LISTED} more" if count > LISTED else "")
    return Notice(
        rule="queue_digest",
        audience=ActorAudience(TIER_ROLE[tier].value, region),
        title=f"{count} new {noun} wait at the {TIER_NAMES[tier]} tier for {region}",
        body=(
            f"{count} {noun} entered the {TIER_NAMES[tier]} queue of {place(region)} since the last "
            f"digest: {listed}. Open your queue to verify, forward or return them."
        ),
        related_event_id=digest_id,
    )
