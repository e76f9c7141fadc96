"""Kafka topics and partition keys, defined once for producers, consumers and the topic tool.

Each service owns one event topic; the registry also publishes agency-facing copies of its events
to `dtks.registry.public`, so partner agencies get read access to that topic and nothing else.
Events of one aggregate share a key, so Kafka keeps them in order.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EVENT_TYPES, payload_class

FOREVER: Final = -1  # Kafka's retention.ms for "never delete": the topics are the system of record

# Kafka allows these characters in topic names, at most 249 of them.
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]*$")
_MAX_TOPIC_LENGTH: Final = 249


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    key_field: str  # payload field whose value is the record key (see key_field_for for exceptions)
    retention_ms: int = FOREVER
    cleanup_policy: str = "delete"
    description: str = ""
    # Broker limit for one record; None keeps the broker default (1 MB).
    max_message_bytes: int | None = None

    def __post_init__(self) -> None:
        if not _TOPIC_CHARS.fullmatch(self.name) or not 0 < len(self.name) <= _MAX_TOPIC_LENGTH:
            raise ValueError(f"{self.name!r} is not a legal Kafka topic name")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name} needs at least one partition")

    def with_prefix(self, prefix: str) -> TopicSpec:
        return dataclasses.replace(self, name=prefix + self.name)

    def config(self) -> dict[str, str]:
        """Topic-level configuration as Kafka's admin API expects it."""
        config = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}
        if self.max_message_bytes is not None:
            config["max.message.bytes"] = str(self.max_message_bytes)
        return config


# A determination lists every household it registers, corrects or deactivates: a national quarter
# of a few hundred thousand ids is well above Kafka's 1 MB default for one record.
_DETERMINATION_MAX_BYTES: Final = 64 * 1024 * 1024

PROPOSAL_EVENTS: Final = TopicSpec(
    name="dtks.proposal.events",
    partitions=12,
    key_field="proposal_id",
    description="Proposals submitted, resubmitted and withdrawn by villages and civil-registry events",
)
VERIFICATION_EVENTS: Final = TopicSpec(
    name="dtks.verification.events",
    partitions=12,
    key_field="proposal_id",
    description="Integrity checks, tier decisions, ratification batches and Ministry acceptances",
)
REGISTRY_EVENTS: Final = TopicSpec(
    name="dtks.registry.events",
    partitions=12,
    key_field="household_id",
    description="Determinations and the household changes they put in force; the register's source",
    max_message_bytes=_DETERMINATION_MAX_BYTES,
)
REGISTRY_PUBLIC: Final = TopicSpec(
    name="dtks.registry.public",
    partitions=6,
    key_field="household_id",
    description="Agency-facing copy of determinations and determined household and institution changes",
    max_message_bytes=_DETERMINATION_MAX_BYTES,
)
NOTIFICATION_EVENTS: Final = TopicSpec(
    name="dtks.notification.events",
    partitions=6,
    key_field="notification_id",
    description="Delivery outcomes of notifications to operators, citizens and agencies",
)

COMPLAINT_EVENTS: Final = TopicSpec(
    name="dtks.complaint.events",
    partitions=6,
    key_field="complaint_id",
    description="Complaints filed, linked to proposals, closed and escalated; life-event drafts confirmed or dismissed",
)

CIVIL_REGISTRY_EVENTS: Final = TopicSpec(
    name="dtks.civil_registry.events",
    partitions=6,
    key_field="life_event_id",
    description="Life events the civil registry shares: deaths, moves, births, family card changes",
)

ALL_TOPICS: Final[tuple[TopicSpec, ...]] = (
    PROPOSAL_EVENTS,
    VERIFICATION_EVENTS,
    REGISTRY_EVENTS,
    REGISTRY_PUBLIC,
    NOTIFICATION_EVENTS,
    COMPLAINT_EVENTS,
    CIVIL_REGISTRY_EVENTS,
)

# The owning service is the first part of the event type.
_TOPIC_BY_SERVICE: Final[Mapping[str, TopicSpec]] = MappingProxyType(
    {
        "proposal": PROPOSAL_EVENTS,
        "verification": VERIFICATION_EVENTS,
        "registry": REGISTRY_EVENTS,
        "notification": NOTIFICATION_EVENTS,
        "complaint": COMPLAINT_EVENTS,
        "civil_registry": CIVIL_REGISTRY_EVENTS,
    }
)

# Events whose aggregate is not the topic's usual one. The batch and the decree span many
# proposals/households; each of those also gets a per-key event, which keeps per-key order.
_KEY_FIELD_OVERRIDES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "proposal.window_set": "regency_code",
        "verification.batch_ratified": "batch_id",
        "verification.freeze_declared": "freeze_id",
        "verification.freeze_shortened": "freeze_id",
        "verification.freeze_lifted": "freeze_id",
        "verification.deadline_set": "policy_id",
        # A batch of overdue items on its region's key: one region's notices stay in order.
        "verification.items_overdue": "notify_region",
        # Re-verification rounds: opening and closing on the round's key, each visit on its household's.
        "verification.reverification_round_opened": "round_id",
        "verification.reverification_round_closed": "round_id",
        "verification.reverification_visit_recorded": "household_id",
        "registry.determination_issued": "decree_number",
        # A chunked decree (#21): manifest and chunks keyed by the decree, so they share a partition.
        "registry.determination_manifest": "decree_number",
        "registry.determination_chunk": "decree_number",
        "registry.decree_key_activated": "key_id",
        # Institutions (#19) are their own aggregate on the registry's topic: one key per institution.
        "registry.institution_registered": "institution_id",
        "registry.institution_changed": "institution_id",
        "registry.institution_closed": "institution_id",
        # An institution's assistance (its stream is its proposal's) on the institution's partition, after
        # the institution's own events.
        "registry.institution_assistance_determined": "institution_id",
        # The village's decisions on life-event drafts: one key per draft.
        "complaint.life_event_draft_confirmed": "draft_id",
        "complaint.life_event_draft_dismissed": "draft_id",
    }
)

# What the registry republishes on dtks.registry.public: only determined facts, never work in progress.
PUBLIC_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "registry.determination_issued",
        "registry.determination_manifest",
        "registry.determination_chunk",
        "registry.household_registered",
        "registry.household_corrected",
        "registry.household_deactivated",
        "registry.welfare_decile_set",
        # Agencies check each decree's signature, so they follow the Ministry's key rotations too.
        "registry.decree_key_activated",
        # Institutions (#19) as determined, with their residents masked in every agency's copy
        # (dtks_contracts.masking.for_agency), as GET /institutions shows them to an agency.
        "registry.institution_registered",
        "registry.institution_changed",
        "registry.institution_closed",
        # Each assistance a decree determined, matched to agencies by the institution's village.
        "registry.institution_assistance_determined",
    }
)

# What an agency's webhook subscription can ask for (notification's deliveries, the console's agency
# page): the public types but a decree's chunks and manifest (#21), which a subscription to
# registry.determination_issued receives (dtks_notification.domain.subscriptions.DELIVERED_AS).
WEBHOOK_EVENT_TYPES: Final[frozenset[str]] = PUBLIC_EVENT_TYPES - {
    "registry.determination_chunk",
    "registry.determination_manifest",
}


@functools.cache  # every appended event asks; building the spec anew (a check of its name) took 3.9 µs
def topic_for(event_type: str, prefix: str = "") -> TopicSpec:
    """The topic that owns `event_type` (raises UnknownEventTypeError for unknown types)."""
    payload_class(event_type)
    return _TOPIC_BY_SERVICE[event_type.partition(".")[0]].with_prefix(prefix)


def key_field_for(event_type: str) -> str:
    """The payload field that keys records of `event_type`."""
    payload_class(event_type)
    return _KEY_FIELD_OVERRIDES.get(event_type) or _TOPIC_BY_SERVICE[event_type.partition(".")[0]].key_field


def partition_key(envelope: EventEnvelope) -> bytes:
    """The Kafka record key of an envelope: its key field's value, UTF-8."""
    field = key_field_for(envelope.event_type)
    try:
        value = envelope.payload[field]
    except KeyError:
        raise ValueError(
            f"{envelope.event_type} event {envelope.event_id} has no key field {field!r}"
        ) from None
    return str(value).encode("utf-8")


def with_prefix(prefix: str) -> tuple[TopicSpec, ...]:
    """All topics renamed with `prefix` (e.g. a per-test-run "t1a2b3.") so runs never share data."""
    if not _TOPIC_CHARS.fullmatch(prefix):
        raise ValueError(f"topic prefix {prefix!r} may only contain letters, digits, '.', '_' and '-'")
    return tuple(spec.with_prefix(prefix) for spec in ALL_TOPICS)


def dead_letter_topic(consumer_group: str, prefix: str = "") -> str:
    """Where a consumer group parks records it cannot process, for operators to inspect and replay."""
    if not consumer_group or not _TOPIC_CHARS.fullmatch(consumer_group):
        raise ValueError(
            f"consumer group {consumer_group!r} cannot name a topic: use letters, digits, '.', '_' or '-'"
        )
    return f"{prefix}dtks.dlq.{consumer_group}"


def dead_letter_spec(consumer_group: str, prefix: str = "") -> TopicSpec:
    """A dead-letter topic keeps the failed record's key and value unchanged, and keeps them forever:
    a dead letter is a submission someone is still waiting for."""
    return TopicSpec(
        name=dead_letter_topic(consumer_group, prefix),
        partitions=1,
        key_field="(the failed record's own key)",
        description=f"Records consumer group {consumer_group} could not process",
    )


def _check_every_event_has_a_topic() -> None:
    # Fails at import time if someone adds a service's events without deciding where they go.
    for event_type in EVENT_TYPES:
        if event_type.partition(".")[0] not in _TOPIC_BY_SERVICE:
            raise RuntimeError(f"event type {event_type} has no owning topic")


_check_every_event_has_a_topic()
