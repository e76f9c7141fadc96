import pytest

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EVENT_TYPES, BatchRatified, UnknownEventTypeError
from dtks_contracts.topics import (
    ALL_TOPICS,
    PUBLIC_EVENT_TYPES,
    REGISTRY_EVENTS,
    dead_letter_spec,
    dead_letter_topic,
    key_field_for,
    partition_key,
    topic_for,
    with_prefix,
)


def test_topic_names():
    assert [t.name for t in ALL_TOPICS] == [
        "dtks.proposal.events",
        "dtks.verification.events",
        "dtks.registry.events",
        "dtks.registry.public",
        "dtks.notification.events",
        "dtks.complaint.events",
        "dtks.civil_registry.events",
    ]
    assert all(t.retention_ms == -1 and t.cleanup_policy == "delete" for t in ALL_TOPICS)


def test_each_event_goes_to_its_services_topic():
    assert topic_for("proposal.submitted").name == "dtks.proposal.events"
    assert topic_for("verification.batch_ratified").name == "dtks.verification.events"
    assert topic_for("registry.determination_issued").name == "dtks.registry.events"
    assert topic_for("notification.failed").name == "dtks.notification.events"
    with pytest.raises(UnknownEventTypeError):
        topic_for("proposal.teleported")
    assert set(EVENT_TYPES) >= PUBLIC_EVENT_TYPES
    assert all(event_type.startswith("registry.") for event_type in PUBLIC_EVENT_TYPES)


def test_keys():
    assert key_field_for("proposal.submitted") == "proposal_id"
    assert key_field_for("verification.returned_at_tier") == "proposal_id"
    assert key_field_for("verification.batch_ratified") == "batch_id"
    assert key_field_for("registry.household_corrected") == "household_id"
    assert key_field_for("registry.determination_issued") == "decree_number"
    assert key_field_for("notification.delivered") == "notification_id"


def test_partition_key_of_an_envelope():
    import datetime as dt

    from dtks_contracts.actor import Actor

    regent = Actor(subject="walikota", role="regent", region="17.71")
    batch = BatchRatified(
        batch_id="B-7",
        regency_code="17.71",
        decree_number="400/12/2025",
        decree_date=dt.date(2025, 2, 3),
        proposal_ids=("p-1",),
        ratified_by=regent,
    )
    assert partition_key(EventEnvelope.new(batch, aggregate_version=1, actor=regent)) == b"B-7"


def test_prefixes_isolate_test_runs():
    prefixed = with_prefix("run42.")
    assert [t.name for t in prefixed] == ["run42." + t.name for t in ALL_TOPICS]
    assert topic_for("proposal.submitted", prefix="run42.").name == "run42.dtks.proposal.events"
    with pytest.raises(ValueError):
        with_prefix("run 42/")


def test_dead_letter_topics():
    assert dead_letter_topic("registry-projector") == "dtks.dlq.registry-projector"
    assert dead_letter_topic("registry-projector", prefix="run42.") == "run42.dtks.dlq.registry-projector"
    assert dead_letter_spec("notifier").config()["retention.ms"] == "-1"
    for bad in ("", "a group", "x/y"):
        with pytest.raises(ValueError):
            dead_letter_topic(bad)


def test_topic_config_for_the_admin_client():
    assert REGISTRY_EVENTS.config() == {
        "retention.ms": "-1",
        "cleanup.policy": "delete",
        "max.message.bytes": str(64 * 1024 * 1024),
    }
