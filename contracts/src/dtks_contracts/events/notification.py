"""Events of the notification service (topic dtks.notification.events, keyed by notification_id).

One notification (e.g. "your proposal was returned") may take several delivery attempts over
several channels; each attempt ends in exactly one of these two events.
"""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, StringConstraints

from dtks_contracts.events.base import EventPayload
from dtks_contracts.identifiers import EntityId
from dtks_contracts.vocabulary.notifications import NotificationChannel


class _DeliveryAttempt(EventPayload):
    aggregate_type: ClassVar[str] = "notification"
    aggregate_id_field: ClassVar[str] = "notification_id"

    notification_id: EntityId
    delivery_id: EntityId = Field(description="One channel's delivery of the notification")
    channel: NotificationChannel
    recipient: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="Subject id, address, number or webhook subscription id"
    )
    attempt: int = Field(ge=1)
    related_event_id: UUID = Field(description="The event the notification is about")


class NotificationDelivered(_DeliveryAttempt):
    event_type: ClassVar[str] = "notification.delivered"
    schema_version: ClassVar[int] = 1


class NotificationFailed(_DeliveryAttempt):
    event_type: ClassVar[str] = "notification.failed"
    schema_version: ClassVar[int] = 1

    error: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    will_retry: bool = Field(description="False once the attempts are exhausted (the delivery is dead)")
