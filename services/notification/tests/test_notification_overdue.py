"""Overdue items: the tier's officers hear first, the tier above after the second deadline."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.events import ItemOverdue
from dtks_contracts.vocabulary import Role
from dtks_contracts.vocabulary.tiers import Tier
from dtks_notification.domain.notices import ActorAudience
from dtks_notification.domain.rules import Knowledge, decide
from dtks_notification.testing import VILLAGE, envelope


def _overdue(level: int, notify: Tier, region: str) -> ItemOverdue:
    return ItemOverdue(
        proposal_id="p-1",
        round=1,
        village_code=VILLAGE,
        tier=Tier.DISTRICT,
        level=level,
        working_days=10 * level,
        due_date=dt.date(2026, 12, 29),
        notify_tier=notify,
        notify_region=region,
    )


def test_an_overdue_item_is_told_to_its_tiers_officers_and_escalated_to_the_tier_above() -> None:
    first = _overdue(1, Tier.DISTRICT, VILLAGE[:8])
    [notice] = decide(envelope(first), first, Knowledge()).notices
    assert notice.rule == "item_overdue"
    assert notice.audience == ActorAudience(Role.DISTRICT_VERIFIER.value, VILLAGE[:8])
    assert "2026-12-29" in notice.body and "10 working days" in notice.body
    second = _overdue(2, Tier.REGENCY, VILLAGE[:5])
    [escalated] = decide(envelope(second), second, Knowledge()).notices
    assert escalated.rule == "item_escalated"
    assert escalated.audience == ActorAudience(Role.REGENCY_OPERATOR.value, VILLAGE[:5])
