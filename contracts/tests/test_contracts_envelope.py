import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import (
    IntegrityChecked,
    ProposalSubmitted,
    ProposalWithdrawn,
    UnknownEventTypeError,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def submitted(make_household, village_operator, deliberation) -> ProposalSubmitted:
    return ProposalSubmitted(
        proposal_id="p-1",
        round=1,
        kind="new_household",
        origin="village",
        village_code="17.71.01.1001",
        deliberation=deliberation,
        household=make_household(),
        submitted_by=village_operator,
    )


def test_envelope_is_filled_from_the_payload(submitted, village_operator):
    envelope = EventEnvelope.new(
        submitted, aggregate_version=1, actor=village_operator, trace_context={"traceparent": TRACEPARENT}
    )
    assert envelope.event_type == "proposal.submitted"
    assert envelope.schema_version == 1
    assert (envelope.aggregate_type, envelope.aggregate_id) == ("proposal", "p-1")
    assert envelope.correlation_id == str(envelope.event_id)  # a flow starts with its first event
    assert envelope.causation_id is None
    assert envelope.occurred_at.tzinfo is dt.UTC


def test_round_trip_through_bytes(submitted, village_operator):
    envelope = EventEnvelope.new(
        submitted, aggregate_version=1, actor=village_operator, trace_context={"traceparent": TRACEPARENT}
    )
    data = envelope.to_bytes()
    assert isinstance(data, bytes)
    assert b": " not in data and b"\n" not in data  # compact
    again = EventEnvelope.from_bytes(data)
    assert again == envelope
    assert again.typed_payload() == submitted
    assert again.payload_as(ProposalSubmitted) == submitted


def test_names_travel_as_utf8_not_escapes(make_household, village_operator, deliberation, submitted):
    household = make_household()
    head = household.members[0].model_copy(update={"name": "Ni Luh Putu Ayu Ṣ"})
    payload = submitted.model_copy(update={"household": household.model_copy(update={"members": (head,)})})
    data = EventEnvelope.new(payload, aggregate_version=1, actor=village_operator).to_bytes()
    assert "Ni Luh Putu Ayu Ṣ".encode() in data


def test_a_caused_event_continues_the_flow(submitted, village_operator):
    first = EventEnvelope.new(
        submitted, aggregate_version=1, actor=village_operator, trace_context={"traceparent": TRACEPARENT}
    )
    checked = IntegrityChecked(
        proposal_id="p-1", round=1, village_code="17.71.01.1001", stage="entry", passed=True
    )
    second = EventEnvelope.new(checked, aggregate_version=1, actor=None, caused_by=first)
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == str(first.event_id)
    assert second.trace_context == {"traceparent": TRACEPARENT}
    assert second.actor is None


def test_timestamps_must_be_aware_and_are_kept_in_utc(submitted, village_operator):
    wib = dt.timezone(dt.timedelta(hours=7))
    envelope = EventEnvelope.new(
        submitted,
        aggregate_version=1,
        actor=village_operator,
        occurred_at=dt.datetime(2025, 1, 20, 9, tzinfo=wib),
    )
    assert envelope.occurred_at == dt.datetime(2025, 1, 20, 2, tzinfo=dt.UTC)
    assert b'"occurred_at":"2025-01-20T02:00:00Z"' in envelope.to_bytes()
    with pytest.raises(ValidationError, match="timezone"):
        EventEnvelope.new(
            submitted, aggregate_version=1, actor=village_operator, occurred_at=dt.datetime(2025, 1, 20, 9)
        )


def test_readers_ignore_fields_added_by_newer_producers(submitted, village_operator):
    raw = json.loads(EventEnvelope.new(submitted, aggregate_version=1, actor=village_operator).to_bytes())
    raw["partition_hint"] = 3
    raw["payload"]["priority"] = "high"
    raw["payload"]["household"]["members"][0]["ethnicity"] = "Rejang"
    envelope = EventEnvelope.from_bytes(json.dumps(raw).encode())
    assert envelope.typed_payload() == submitted


def test_the_acting_persons_name_travels_with_the_event_and_older_events_without_it_still_read(
    submitted, village_operator
):
    named = village_operator.model_copy(update={"name": "Sari Wulandari"})
    signed_in = EventEnvelope.new(submitted, aggregate_version=1, actor=named)
    again = EventEnvelope.from_bytes(signed_in.to_bytes())
    assert again.actor is not None and again.actor.name == "Sari Wulandari"
    # An event written before actors had names: the same bytes as then, and read as it was.
    older = json.loads(EventEnvelope.new(submitted, aggregate_version=1, actor=village_operator).to_bytes())
    assert set(older["actor"]) == {"subject", "role", "region"}
    read = EventEnvelope.from_bytes(json.dumps(older).encode())
    assert read.actor is not None and read.actor.name is None
    assert read.typed_payload() == submitted


def test_history_with_a_since_recoded_region_stays_readable(village_operator):
    # Written when 91.01.01 was a village's district; the current list no longer has it.
    envelope = EventEnvelope(
        event_id=uuid.uuid4(),
        event_type="proposal.withdrawn",
        schema_version=1,
        aggregate_type="proposal",
        aggregate_id="p-old",
        aggregate_version=3,
        occurred_at=dt.datetime(2021, 5, 1, tzinfo=dt.UTC),
        actor=village_operator,
        correlation_id="c",
        payload={
            "proposal_id": "p-old",
            "round": 1,
            "village_code": "91.01.01.2001",
            "withdrawn_by": {"subject": "op", "role": "village_operator", "region": "91.01.01.2001"},
            "reason": "Duplicate entry",
        },
    )
    with pytest.raises(ValidationError, match="names no village"):
        ProposalWithdrawn.model_validate(envelope.payload)
    assert (
        EventEnvelope.from_bytes(envelope.to_bytes()).payload_as(ProposalWithdrawn).village_code
        == "91.01.01.2001"
    )


def test_unknown_and_mismatched_types(submitted, village_operator):
    envelope = EventEnvelope.new(submitted, aggregate_version=1, actor=village_operator)
    with pytest.raises(TypeError, match=r"not proposal\.withdrawn"):
        envelope.payload_as(ProposalWithdrawn)
    stranger = envelope.model_copy(update={"event_type": "proposal.teleported"})
    with pytest.raises(UnknownEventTypeError):
        stranger.typed_payload()


def test_envelope_fields_are_checked(submitted, village_operator):
    data = json.loads(EventEnvelope.new(submitted, aggregate_version=1, actor=village_operator).to_bytes())
    for field, bad in (("event_type", "ProposalSubmitted"), ("aggregate_version", 0), ("schema_version", 0)):
        with pytest.raises(ValidationError):
            EventEnvelope.from_bytes(json.dumps({**data, field: bad}))
