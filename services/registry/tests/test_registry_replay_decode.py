"""The replay's decoder: one validation per event gives what the live consumer's two give."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.verification import AcceptedByMinistry, VerifiedAtTier
from dtks_contracts.vocabulary.tiers import Tier
from dtks_registry.adapters.projection import decode_projection_event
from dtks_registry.testing import MINISTRY, acceptance, envelope, make_household

AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_an_acceptance_decodes_to_the_payload_the_live_consumer_reads():
    event = acceptance("p-1", accepted_at=AT, household=make_household(1))
    decoded = decode_projection_event(event.to_bytes())
    assert decoded.event_id == event.event_id
    assert decoded.payload == event.payload_as(AcceptedByMinistry)


def test_fields_added_by_newer_producers_are_ignored_at_every_level():
    event = acceptance("p-1", accepted_at=AT, household=make_household(1))
    doc = json.loads(event.to_bytes())
    doc["added_later"] = 1
    doc["payload"]["also_new"] = "x"
    doc["payload"]["household"]["members"][0]["new_field"] = True
    assert decode_projection_event(json.dumps(doc).encode()).payload == event.payload_as(AcceptedByMinistry)


def test_an_event_the_live_consumer_could_not_apply_is_refused():
    doc = json.loads(acceptance("p-1", accepted_at=AT, household=make_household(1)).to_bytes())
    doc["payload"]["household"]["members"] = []  # a household without members
    with pytest.raises(ValueError):
        decode_projection_event(json.dumps(doc).encode())
    with pytest.raises(ValueError):
        decode_projection_event(b"not json at all")


def test_other_types_are_read_as_envelopes_without_a_payload():
    payload = VerifiedAtTier(proposal_id="p-1", round=1, village_code="17.71.01.1001", tier=Tier.DISTRICT,
                             verifier=MINISTRY)  # fmt: skip
    event: EventEnvelope = envelope(payload)
    decoded = decode_projection_event(event.to_bytes())
    assert (decoded.event_type, decoded.payload) == ("verification.verified_at_tier", None)
