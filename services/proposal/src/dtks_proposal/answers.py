"""What a proposal command answers, and the idempotent replay of an answer kept under a key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.domain import status as standing_rules
from dtks_runtime.errors import DomainError


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def answer_body(
    proposal_id: str,
    kind: ProposalKind,
    village_code: str,
    standing: standing_rules.Standing,
    at: dt.datetime,
) -> dict[str, Any]:
    return {
        "proposal_id": proposal_id,
        "kind": kind.value,
        "village_code": village_code,
        "status": standing.status.value,
        "round": standing.round,
        "waiting_at": standing.waiting_at,
        "recorded_at": at.isoformat(),
        "links": {"self": f"/proposals/{proposal_id}"},
    }


def replay_answer(stored: repo.StoredAnswer, same_as: Callable[[str], bool], what: str) -> Answer:
    """The stored answer again, if the request is the one it answered (``same_as`` its fingerprint)."""
    if not same_as(stored.fingerprint):
        # Name what the client sent and can change (it may have sent no key at all).
        if "Idempotency-Key" in what:
            advice = "send the original body again, or use a new Idempotency-Key for a new proposal."
        elif what.startswith("Proposal id"):
            advice = "send the original body again, or give a new proposal a new proposal_id."
        else:
            advice = "it is done once, as first sent."
        raise DomainError(
            "idempotency_key_reused", f"{what} was already used for a different request; {advice}"
        )
    return Answer(stored.status_code, stored.body, replayed=True)
