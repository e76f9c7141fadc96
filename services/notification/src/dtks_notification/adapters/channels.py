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

import aiohttp
import aiosmtplib

from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_notification.adapters import http_client
from dtks_notification.domain import signing
from dtks_notification.domain.callbacks import CallbackPolicy, CallbackRefused, parse_callback
from dtks_runtime.callback_guard import UNRESOLVABLE, CallbackAddressRefused
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)


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


async def _post(session: aiohttp.ClientSession, url: str, content: bytes, headers: dict[str, str]) -> None:
    try:
        response = await http_client.post(session, url, content, headers)
    except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
        raise DeliveryFailed(f"{url}: no answer within {session.timeout.total:g} s") from exc
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise DeliveryFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"{url} answered {response.status}: {response.text}")


class SmsChannel:
    """SMS through an HTTP gateway: POST JSON ``{to, message, reference}``; any 2xx is accepted.

    ``session`` is the service's shared delivery session (:func:`http_client.delivery_session`);
    its owner closes it."""

    def __init__(self, gateway_url: str, session: aiohttp.ClientSession) -> None:
        self.url = gateway_url
        self.session = session

    async def send(self, delivery: Outgoing) -> None:
        content = json.dumps(
            {"to": delivery.recipient, "message": delivery.title, "reference": delivery.delivery_id}
        ).encode()
        await _post(self.session, self.url, content, {"Content-Type": "application/json"})

    async def close(self) -> None:
        return None


# What the delivery log says of a webhook attempt that failed: the answer's status class, or one
# of these. Never the answer's body, and no difference between a refused connection, a reset, a
# timeout or a TLS failure: an agency could otherwise map which ports of a host are open.
CONNECTION_FAILED = "connection failed"
ADDRESS_REFUSED = "callback address refused"


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class WebhookChannel:
    """Signed POSTs to agencies' callback URLs (see :mod:`dtks_notification.domain.signing`).

    ``session`` is the service's webhook session, whose resolver connects to allowed addresses only
    (:class:`~dtks_notification.adapters.guarded_resolver.GuardedResolver`); its owner closes it.
    A callback's IP-address host never reaches a resolver, so each attempt checks it here too, and
    the scheme, against ``policy``. Redirects are not followed: a 3xx is a failed attempt."""

    def __init__(self, session: aiohttp.ClientSession, policy: CallbackPolicy) -> None:
        self.session, self.policy = session, policy

    async def send(self, delivery: Outgoing) -> None:
        if delivery.callback_url is None or delivery.secret is None:
            raise DeliveryFailed("the subscription was deleted; nothing to deliver to")
        try:
            parse_callback(delivery.callback_url, self.policy)
        except CallbackRefused as exc:
            raise DeliveryFailed(ADDRESS_REFUSED) from exc
        body = delivery.body.encode()
        headers = signing.signed_headers(delivery.secret, delivery.delivery_id, delivery.title, body)
        try:
            response = await http_client.post(self.session, delivery.callback_url, body, headers)
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, CallbackAddressRefused) and exc.os_error.code != UNRESOLVABLE
            raise DeliveryFailed(ADDRESS_REFUSED if refused else CONNECTION_FAILED) from exc
        except Exception as exc:  # timeouts, resets, TLS, a malformed answer: all the same to the agency
            log.info("webhook connection failed", delivery_id=delivery.delivery_id, error=repr(exc))
            raise DeliveryFailed(CONNECTION_FAILED) from exc
        if not 200 <= response.status < 300:
            raise DeliveryFailed(status_class(response.status))

    async def close(self) -> None:
        return None
