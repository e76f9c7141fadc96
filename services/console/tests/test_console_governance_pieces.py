"""Pure parts of the governance and complaint pages: which freezes a page's banner shows, times
typed in WIB, a complaint's body as typed, and every coded label they show in both languages."""

from __future__ import annotations

import datetime as dt

import pytest

from dtks_console.complaint_pages import CLOSING_REASONS, KINDS, complaint_body
from dtks_console.freeze_banner import holding
from dtks_console.governance_pages import ACTIONS, wib_moment
from dtks_console.i18n import translations

NOW = dt.datetime(2026, 12, 4, 5, 0, tzinfo=dt.UTC)


def _freeze(
    actions: list[str], starts: dt.datetime, ends: dt.datetime, lifted: bool = False
) -> dict[str, object]:
    return {
        "freeze_id": "f",
        "scope": "17.71",
        "actions": actions,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "reason": "audit",
        "lifted": lifted,
    }


def test_a_pages_banner_shows_only_freezes_holding_now_that_stop_its_action() -> None:
    hour = dt.timedelta(hours=1)
    holding_now = _freeze(["tier_decisions"], NOW - hour, NOW + hour)
    to_come = _freeze(["tier_decisions"], NOW + hour, NOW + 2 * hour)
    over = _freeze(["tier_decisions"], NOW - 2 * hour, NOW)
    lifted = _freeze(["tier_decisions"], NOW - hour, NOW + hour, lifted=True)
    other_action = _freeze(["ratifications"], NOW - hour, NOW + hour)
    assert holding([holding_now, to_come, over, lifted, other_action], "tier_decisions", NOW) == [holding_now]
    assert holding([other_action], "ratifications", NOW) == [other_action]


def test_a_time_typed_in_wib_is_sent_with_its_offset_and_text_that_is_no_time_as_typed() -> None:
    sent = dt.datetime.fromisoformat(wib_moment("2026-12-04T12:00"))
    assert sent == dt.datetime(2026, 12, 4, 5, 0, tzinfo=dt.UTC)
    assert wib_moment("besok") == "besok"


def test_a_complaints_body_leaves_out_empty_subjects_and_spaces_typed_in_numbers() -> None:
    body = complaint_body(
        {"nik": "1771 0112 0478 0001", "name": " Budi ", "phone": "0812-3456 7890", "kind": "exclusion"}
    )
    assert body["nik"] == "1771011204780001" and body["phone"] == "081234567890" and body["name"] == "Budi"
    assert "subject_nik" not in body and "subject_proposal_id" not in body


@pytest.mark.parametrize(
    "key",
    [
        *(f"frozen:{a}" for a in ACTIONS),
        *(f"complaint-kind:{k}" for k in KINDS),
        *(f"closing:{r}" for r in CLOSING_REASONS),
        *(f"complaint-status:{s}" for s in ("open", "escalated", "in_proposal", "closed")),
    ],
)
def test_the_governance_and_complaint_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("id").gettext(key) != key
    assert translations("en").gettext(key) != key


def test_every_next_step_the_complaints_service_tells_a_citizen_of_a_closed_complaint_reads_in_indonesian() -> (
    None
):
    from dtks_contracts.vocabulary.complaints import CLOSING_MESSAGES

    for sentence in CLOSING_MESSAGES.values():
        assert translations("id").gettext(sentence) != sentence, sentence
