"""Timeline entries: one per event that concerns a proposal, with who did what, when and why."""

from __future__ import annotations

from typing import Any

from dtks_contracts.envelope import EventEnvelope
from dtks_proposal.adapters.proposals import TimelineEntry


def _actor(envelope: EventEnvelope) -> dict[str, Any] | None:
    return envelope.actor.model_dump(mode="json") if envelope.actor else None


def own_event_entry(envelope: EventEnvelope) -> TimelineEntry:
    """A proposal event this service recorded (submitted, resubmitted, withdrawn)."""
    payload = envelope.payload
    note = payload.get("correction_note") or payload.get("reason")
    return TimelineEntry(
        proposal_id=envelope.aggregate_id,
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        round=payload.get("round"),
        at=envelope.occurred_at,
        actor=_actor(envelope),
        note=note,
    )


def verification_entry(envelope: EventEnvelope, proposal_id: str | None = None) -> TimelineEntry:
    """A verification event: the tier, the verifier, the reasons (findings) and any note."""
    p = envelope.payload
    details: dict[str, Any] = {}
    for name in ("stage", "passed", "batch_id", "decree_number", "decree_date", "accepted_at", "to_tier"):
        if p.get(name) is not None:
            details[name] = p[name]
    reasons = p.get("reasons") or p.get("findings") or []
    actor = _actor(envelope)
    for name in ("verifier", "returned_by", "accepted_by", "ratified_by"):
        if p.get(name):
            actor = p[name]
    return TimelineEntry(
        proposal_id=proposal_id or str(p["proposal_id"]),
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        round=p.get("round"),
        at=envelope.occurred_at,
        actor=actor,
        tier=p.get("tier"),
        reasons=list(reasons),
        note=p.get("note"),
        details=details,
    )


def registry_entry(envelope: EventEnvelope) -> TimelineEntry:
    """The decree that put the proposal in force in the register."""
    p = envelope.payload
    subject = "institution_id" if "institution_id" in p else "household_id"
    details = {subject: p[subject], "decree_number": p["decree_number"]}
    if p.get("reason"):
        details["closure_reason" if subject == "institution_id" else "deactivation_reason"] = p["reason"]
    return TimelineEntry(
        proposal_id=str(p["proposal_id"]),
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        round=None,
        at=envelope.occurred_at,
        actor=_actor(envelope),
        details=details,
    )
