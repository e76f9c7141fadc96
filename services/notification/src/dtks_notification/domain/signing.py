"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body`` with the subscription's secret.

A receiver recomputes the signature from the raw body and the timestamp header, compares in
constant time, and refuses timestamps too far from its clock (a replayed old request). The same
delivery id may arrive more than once (a crash after sending, before recording): deduplicate on it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

DELIVERY_ID_HEADER = "X-DTKS-Delivery-Id"
TIMESTAMP_HEADER = "X-DTKS-Timestamp"
SIGNATURE_HEADER = "X-DTKS-Signature"
EVENT_TYPE_HEADER = "X-DTKS-Event-Type"
SCHEME = "sha256="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def signed_headers(
    secret: str, delivery_id: str, event_type: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        EVENT_TYPE_HEADER: event_type,
    }
