"""What the rules decide: a notice addressed to an audience, before any channel is chosen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# Fixed namespace: ids derived from it are the same on every replay of the same event, so a
# redelivered event can never produce a second notification or a second delivery id.
NOTIFICATION_NAMESPACE = uuid.UUID("6f3b0c1e-6a43-4c55-9a39-2f1f4f3f0d11")


@dataclass(frozen=True)
class ActorAudience:
    """Officers in a role over a region (the inbox address), optionally one of them by subject."""

    role: str
    region: str
    subject: str | None = None

    def key(self) -> str:
        return f"actor:{self.role}:{self.region}:{self.subject or ''}"


@dataclass(frozen=True)
class HouseholdAudience:
    """A household that gave a phone number and consented to be contacted about its record."""

    household_id: str
    phone: str

    def key(self) -> str:
        return f"household:{self.household_id}"


@dataclass(frozen=True)
class AgencyAudience:
    """A partner agency's webhook subscription."""

    subscription_id: str

    def key(self) -> str:
        return f"agency:{self.subscription_id}"


Audience = ActorAudience | HouseholdAudience | AgencyAudience


@dataclass(frozen=True)
class Notice:
    rule: str  # which rule decided it, e.g. "proposal_returned"
    audience: Audience
    title: str  # inbox title, email subject, SMS text for households
    body: str
    related_event_id: uuid.UUID
    notification_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.notification_id:
            derived = uuid.uuid5(
                NOTIFICATION_NAMESPACE, f"{self.related_event_id}/{self.rule}/{self.audience.key()}"
            )
            object.__setattr__(self, "notification_id", str(derived))


def delivery_id_for(notification_id: str, channel: str, recipient: str) -> str:
    """One id per (notification, channel, recipient), assigned when decided, never when sent."""
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{notification_id}/{channel}/{recipient}"))
