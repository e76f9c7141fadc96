"""Overdue items: the tier's officers hear first, the tier above after the second deadline."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from dtks_contracts.events import ItemOverdue, ItemsOverdue, OverdueGroup
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


def _notice(level: int, notify: Tier, region: str, per_day: list[int]) -> ItemsOverdue:
    return ItemsOverdue(
        notice_id="n-1",
        tier=Tier.DISTRICT,
        level=level,
        notify_tier=notify,
        notify_region=region,
        groups=tuple(
            OverdueGroup(
                entered_on=dt.date(2026, 12, 1) + dt.timedelta(days=d),
                due_date=dt.date(2026, 12, 15) + dt.timedelta(days=d),
                proposal_ids=tuple(f"p-{d}-{i}" for i in range(n)),
            )
            for d, n in enumerate(per_day)
        ),
    )


def test_a_regions_overdue_items_are_one_notice_counting_them_by_day_of_entry() -> None:
    first = _notice(1, Tier.DISTRICT, VILLAGE[:8], [3] * 12)
    [notice] = decide(envelope(first), first, Knowledge()).notices
    assert notice.rule == "item_overdue"
    assert notice.audience == ActorAudience(Role.DISTRICT_VERIFIER.value, VILLAGE[:8])
    assert notice.title == "Overdue at the district tier: 36 proposals"
    assert "3 entered on 2026-12-01, due 2026-12-15; 3 entered on 2026-12-02" in notice.body
    assert "2026-12-10, due 2026-12-24; 6 more on later days." in notice.body
    second = _notice(2, Tier.REGENCY, VILLAGE[:5], [1])
    [escalated] = decide(envelope(second), second, Knowledge()).notices
    assert escalated.rule == "item_escalated"
    assert escalated.audience == ActorAudience(Role.REGENCY_OPERATOR.value, VILLAGE[:5])
    assert escalated.title == "Escalated from the district tier: 1 proposal"
    assert "more" not in escalated.body


def test_a_notice_lists_at_most_a_thousand_items() -> None:
    assert _notice(1, Tier.DISTRICT, VILLAGE[:8], [500, 500]).count == 1000
    with pytest.raises(pydantic.ValidationError, match="at most 1000 items, not 1001"):
        _notice(1, Tier.DISTRICT, VILLAGE[:8], [500, 501])
