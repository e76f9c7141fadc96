"""The envelope every event travels in, on Kafka and in the services' event stores.

The envelope is what infrastructure reads (ids, ordering, tracing, who acted); the payload is what
the domain reads. Payloads stay plain dicts in the envelope so that a consumer can route, store or
dead-letter an event whose payload it does not understand; `typed_payload()` turns them into models.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from pydantic import Field

from dtks_contracts.actor import Actor
from dtks_contracts.events import EventPayload, payload_class
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.model_base import ContractModel
from dtks_contracts.timestamps import UtcDateTime, utc_now
from dtks_contracts.upcasting import upcast

__all__ = ["ENVELOPE_SCHEMA_NAME", "ENVELOPE_SCHEMA_VERSION", "Actor", "EventEnvelope"]

# The envelope evolves additively only (checked against schemas/envelope.v1.json); it has no upcaster.
ENVELOPE_SCHEMA_NAME: Final = "envelope"
ENVELOPE_SCHEMA_VERSION: Final = 1

P = TypeVar("P", bound=EventPayload)


class EventEnvelope(ContractModel):
    event_id: uuid.UUID
    event_type: str = Field(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_]*$", description="e.g. proposal.submitted")
    schema_version: int = Field(ge=1, description="Version of the payload's schema")
    aggregate_type: str = Field(min_length=1, max_length=64)
    aggregate_id: str = Field(min_length=1, max_length=200)
    aggregate_version: int = Field(ge=1, description="Position of the event in its aggregate's stream")
    occurred_at: UtcDateTime
    actor: Actor | None = Field(default=None, description="None for events the system raises itself")
    correlation_id: str = Field(min_length=1, max_length=200, description="Shared by all events of one flow")
    causation_id: str | None = Field(
        default=None, max_length=200, description="The event or command that caused this"
    )
    trace_context: dict[str, str] = Field(
        default_factory=dict, description="W3C trace context: traceparent and, if any, tracestate"
    )
    payload: dict[str, Any]

    @classmethod
    def new(
        cls,
        payload: EventPayload,
        *,
        aggregate_version: int,
        actor: Actor | None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        caused_by: EventEnvelope | None = None,
        trace_context: Mapping[str, str] | None = None,
        aggregate_id: str | None = None,
        event_id: uuid.UUID | None = None,
        occurred_at: dt.datetime | None = None,
    ) -> EventEnvelope:
        """Wrap a payload; type, version and aggregate come from the payload class.

        `caused_by` continues a flow: correlation id and trace context are inherited and the
        causing event becomes the causation. A flow without either starts with its own event id.
        """
        event_id = event_id or uuid.uuid4()
        if caused_by is not None:
            correlation_id = correlation_id or caused_by.correlation_id
            causation_id = causation_id or str(caused_by.event_id)
            trace_context = trace_context if trace_context is not None else caused_by.trace_context
        return cls(
            event_id=event_id,
            event_type=payload.event_type,
            schema_version=payload.schema_version,
            aggregate_type=payload.aggregate_type,
            aggregate_id=aggregate_id or payload.aggregate_id(),
            aggregate_version=aggregate_version,
            occurred_at=occurred_at or utc_now(),
            actor=actor,
            correlation_id=correlation_id or str(event_id),
            causation_id=causation_id,
            trace_context=dict(trace_context or {}),
            payload=payload.model_dump(mode="json"),
        )

    def to_bytes(self) -> bytes:
        """Compact JSON in UTF-8 (names stay readable, not \\u-escaped)."""
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | str) -> EventEnvelope:
        """Parse a stored or received envelope as history: fields added by newer producers are
        ignored, region codes that have since been re-coded are still read (see `historical`)."""
        return cls.model_validate_json(data, extra="ignore", context=dict(HISTORICAL_READ))

    def typed_payload(self) -> EventPayload:
        """The payload as its model at the current schema version, upcast if it was written older."""
        cls = payload_class(self.event_type)
        if self.schema_version == cls.schema_version:
            # Nothing to lift: validation only reads the dict, so the upcaster's defensive copy (a
            # large share of the cost of reading an event with a household) is skipped.
            return cls.model_validate(self.payload, extra="ignore", context=dict(HISTORICAL_READ))
        _, lifted = upcast(self.event_type, self.schema_version, self.payload)
        return cls.model_validate(lifted, extra="ignore", context=dict(HISTORICAL_READ))

    def payload_as(self, expected: type[P]) -> P:
        """`typed_payload()` for callers that know what they expect; a wrong type is an error."""
        if self.event_type != expected.event_type:
            raise TypeError(f"event {self.event_id} is {self.event_type}, not {expected.event_type}")
        payload = self.typed_payload()
        if not isinstance(payload, expected):
            raise TypeError(
                f"{self.event_type} is registered as {type(payload).__name__}, not {expected.__name__}"
            )
        return payload
