"""The complaint events: where they go, what they carry, and what they never carry."""

import datetime as dt

import pytest
from pydantic import ValidationError

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import ComplaintClosed, ComplaintFiled
from dtks_contracts.topics import partition_key, topic_for
from dtks_contracts.vocabulary.complaints import (
    CLOSING_MESSAGES,
    OPERATOR_CLOSING_REASONS,
    ComplaintChannel,
    ComplaintClosingReason,
    ComplaintKind,
)
from dtks_contracts.vocabulary.roles import ROLE_REGION_LEVEL, Role

NIK = "1771014501900001"


def _filed(**changes: object) -> ComplaintFiled:
    fields: dict[str, object] = {
        "complaint_id": "c-1",
        "village_code": "17.71.01.1004",
        "kind": ComplaintKind.EXCLUSION,
        "channel": ComplaintChannel.PUBLIC_FORM,
        "complainant_nik": NIK,
        "due_at": dt.datetime(2026, 1, 15, tzinfo=dt.UTC),
    }
    return ComplaintFiled(**{**fields, **changes})


def test_complaint_events_go_to_the_complaint_topic_keyed_by_complaint():
    envelope = EventEnvelope.new(_filed(), aggregate_version=1, actor=None)
    assert topic_for("complaint.filed").name == "dtks.complaint.events"
    assert partition_key(envelope) == b"c-1"


def test_a_filed_complaint_carries_no_phone_number():
    assert "phone" not in " ".join(ComplaintFiled.model_fields)
    with pytest.raises(ValidationError):
        _filed(phone="081234567890")


def test_a_naive_deadline_is_refused():
    with pytest.raises(ValidationError):
        _filed(due_at=dt.datetime(2026, 1, 15))


def test_every_closing_reason_has_a_sentence_and_only_the_decree_closes_by_itself():
    assert set(CLOSING_MESSAGES) == set(ComplaintClosingReason)
    assert ComplaintClosingReason.RESOLVED_BY_DECREE not in OPERATOR_CLOSING_REASONS
    closed = ComplaintClosed(
        complaint_id="c-1", village_code="17.71.01.1004", reason=ComplaintClosingReason.NOT_ELIGIBLE
    )
    assert closed.aggregate_id() == "c-1"


def test_the_welfare_post_operator_works_for_one_village():
    assert ROLE_REGION_LEVEL[Role.WELFARE_POST_OPERATOR] == "village"
