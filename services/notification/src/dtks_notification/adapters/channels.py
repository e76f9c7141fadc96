"""The channels a delivery goes out through, each behind the same small interface.

A channel sends one delivery and returns, or raises :class:`DeliveryFailed` with a reason an operator
can read in the delivery log. The in-app inbox is not among them: it is the notification's own row
in this service's database, written in the same transaction that decided it, so it cannot fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import h11

from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_notification.adapters.http_client import HttpPoster
from dtks_notification.domain import signing


class DeliveryFailed(Exception):
    """This attempt did not reach the recipient; the sender decides whether to retry."""


@dataclass(frozen=True)
class Outgoing:
    """One delivery as the sender hands it to a channel."""

    delivery_id: str
    notification_id: str
    channel: NotificationChannel
    recipient: str  # email address, phone number, or subscription id
    title: str
    body: str
    attempt: int
    callback_url: str | None = None  # webhooks only
    secret: str | None = None  # webhooks only


class Channel(Protocol):
    async def send(self, delivery: Outgoing) -> None: ...

    async def close(self) -> None: ...


class EmailChannel:
    """Email over SMTP (aiosmtplib); the delivery id travels as the Message-ID's local part."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        timeout: float,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
    ) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.username, self.password, self.start_tls = username, password, start_tls

    async def send(self, delivery: Outgoing) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = delivery.recipient
        message["Subject"] = delivery.title
        domain = self.sender.rpartition("@")[2] or "dtks.local"
        message["Message-ID"] = f"<{delivery.delivery_id}@{domain}>"
        message["X-DTKS-Delivery-Id"] = delivery.delivery_id
        message.set_content(delivery.body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                timeout=self.timeout,
                username=self.username,
                password=self.password,
                start_tls=self.start_tls,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {exc}") from exc

    async def close(self) -> None:
        return None


async def _post(client: HttpPoster, url: str, content: bytes, headers: dict[str, str]) -> None:
    try:
        response = await client.post(url, content, headers)
    except (OSError, h11.ProtocolError, ValueError) as exc:
        raise DeliveryFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status < 300:
        text = response.body[:300].decode("utf-8", "replace")
        raise DeliveryFailed(f"{url} answered {response.status}: {text}")


class SmsChannel:
    """SMS through an HTTP gateway: POST JSON ``{to, message, reference}``; any 2xx is accepted."""

    def __init__(self, gateway_url: str) -> None:
        self.url = gateway_url
        self.client = HttpPoster(connections_per_origin=16)

    async def send(self, delivery: Outgoing) -> None:
        content = json.dumps(
            {"to": delivery.recipient, "message": delivery.title, "reference": delivery.delivery_id}
        ).encode()
        await _post(self.client, self.url, content, {"Content-Type": "application/json"})

    async def close(self) -> None:
        await self.client.close()


class WebhookChannel:
    """Signed POSTs to agencies' callback URLs (see :mod:`dtks_notification.domain.signing`)."""

    def __init__(self, *, connections_per_origin: int = 32) -> None:
        self.client = HttpPoster(connections_per_origin=connections_per_origin)

    async def send(self, delivery: Outgoing) -> None:
        if delivery.callback_url is None or delivery.secret is None:
            raise DeliveryFailed("the subscription was deleted; nothing to deliver to")
        body = delivery.body.encode()
        headers = signing.signed_headers(delivery.secret, delivery.delivery_id, delivery.title, body)
        await _post(self.client, delivery.callback_url, body, headers)

    async def close(self) -> None:
        await self.client.close()
