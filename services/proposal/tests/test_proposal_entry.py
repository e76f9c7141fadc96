"""The rules every first submission enters by, decided in memory for a whole batch at once: the
same for a single submission, a group commit's group and an import's chunk. No infrastructure."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.adapters.proposals import StoredAnswer
from dtks_proposal.answers import Answer
from dtks_proposal.domain.submission import ProposalIn, submitted_event
from dtks_proposal.domain.windows import Window
from dtks_proposal.entry import Entry, decide_entries
from dtks_proposal.testing import VILLAGE, sample_bodies
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, NewEvent

BODIES = sample_bodies(5, seed=3)
OPERATOR = Principal("op", Role.VILLAGE_OPERATOR, VILLAGE)
TODAY = dt.date(2026, 11, 10)


def _entry(index: int, *, proposal_id: str | None = None, key: str | None = None) -> Entry:
    proposal = ProposalIn.model_validate(BODIES[index])
    pid = proposal_id or f"p-{index}"
    event = submitted_event(proposal, pid, OPERATOR.as_actor(), key)
    return Entry(
        proposal,
        NewEvent.of(event),
        Causation(actor=OPERATOR.as_actor()),
        OPERATOR.subject,
        key=key,
        fingerprint=proposal.fingerprint(),
        what="This Idempotency-Key",
    )


def _codes(outcomes: list[Answer | DomainError | None]) -> list[str | None]:
    return [o.code if isinstance(o, DomainError) else None for o in outcomes]


def test_a_quota_counts_the_batchs_earlier_submissions_in_order_and_refuses_the_rest() -> None:
    window = Window(VILLAGE[:5], True, dt.date(2026, 11, 1), dt.date(2026, 11, 30), quota=3, used=1)
    entries = [_entry(i) for i in range(4)]
    outcomes, admitted = decide_entries(entries, {}, {VILLAGE[:5]: window}, TODAY)
    assert _codes(outcomes) == [None, None, "quota_exceeded", "quota_exceeded"]
    assert outcomes[:2] == [None, None] and admitted == {VILLAGE[:5]: 2}
    refused = outcomes[2]
    assert isinstance(refused, DomainError) and refused.extra == {
        "reason_code": "QUOTA_EXCEEDED",
        "until": "2026-12-01",
    }


def test_a_kept_answer_is_replayed_another_body_refused_and_a_repeated_id_goes_to_the_first() -> None:
    replayed, reused = _entry(0, key="k-0"), _entry(1, key="k-1")
    stored = {
        "k-0": StoredAnswer(replayed.fingerprint, 201, {"proposal_id": "p-0"}),
        "k-1": StoredAnswer("another body", 201, {"proposal_id": "p-1"}),
    }
    entries = [replayed, reused, _entry(2, proposal_id="same"), _entry(3, proposal_id="same")]
    outcomes, admitted = decide_entries(entries, stored, {}, TODAY)
    assert outcomes[0] == Answer(201, {"proposal_id": "p-0"}, replayed=True)
    assert _codes(outcomes) == [None, "idempotency_key_reused", None, "proposal_id_repeated"]
    assert outcomes[2] is None and not admitted  # no window: nothing counted


def test_a_closed_window_refuses_with_its_reason_and_the_day_it_opens() -> None:
    closed = Window(VILLAGE[:5], False, dt.date(2026, 12, 1), None, None, 0)
    outcomes, _ = decide_entries([_entry(0)], {}, {VILLAGE[:5]: closed}, TODAY)
    (refused,) = outcomes
    assert isinstance(refused, DomainError) and refused.code == "proposal_window_closed"
    assert refused.extra["until"] == "2026-12-01" and "2026-12-01" in refused.detail
