"""The DCI message envelope: ``{signature, header, message}``, its acknowledgement, callback headers,
and the standard's status and reason codes.

Two kinds of refusal exist in the standard and both are kept apart here:

- **Transport errors** (``Error.code``, ``err.*``): the envelope cannot be taken at all (no or bad
  signature, malformed body, wrong sender). Answered with an HTTP 4xx and the standard's
  ``HttpErrorResponse`` (``{"errors": [{"code", "message"}]}``), see :class:`DciError`.
- **Message and request rejections** (``rjct.*``): the envelope was taken but its header (a
  replayed ``message_id``, a stale ``message_ts``: ``MsgHeaderStatusReasonCode``) or one request of
  it (``SearchStatusReasonCode``, ...) is refused. Answered in the standard's own response shape with
  ``status: rjct`` and the reason code, as the standard puts business outcomes in the message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from dtks_runtime.errors import DomainError

# Error.code (transport layer) and the HTTP status the service answers each with.
ERROR_STATUSES: dict[str, int] = {
    "err.request.bad": 400,
    "err.request.unauthorized": 401,
    "err.request.forbidden": 403,
    "err.request.not_found": 404,
    "err.version.not_supported": 400,
    "err.request.too_many_requests": 429,
    "err.sender_id.invalid": 403,
    "err.sender_uri.invalid": 400,
    "err.receiver_id.invalid": 400,
    "err.signature.missing": 401,
    "err.signature.invalid": 401,
    "err.encryption.invalid": 400,
    "err.service.unavailable": 503,
}

# Header/message status (UnSubscribeResponse.status, shared by every response and callback header).
RECEIVED, PENDING, SUCCEEDED, REJECTED = "rcvd", "pdng", "succ", "rjct"

# MsgHeaderStatusReasonCode
MESSAGE_ID_DUPLICATE = "rjct.message_id.duplicate"
MESSAGE_TS_INVALID = "rjct.message_ts.invalid"
ACTION_INVALID = "rjct.action.invalid"
VERSION_INVALID = "rjct.version.invalid"
TOTAL_COUNT_INVALID = "rjct.total_count.invalid"
TOTAL_COUNT_LIMIT = "rjct.total_count.limit_exceeded"

# SearchStatusReasonCode
REFERENCE_ID_DUPLICATE = "rjct.reference_id.duplicate"
TIMESTAMP_INVALID = "rjct.timestamp.invalid"
SEARCH_CRITERIA_INVALID = "rjct.search_criteria.invalid"
FILTER_INVALID = "rjct.filter.invalid"
SORT_INVALID = "rjct.sort.invalid"
PAGINATION_INVALID = "rjct.pagination.invalid"
TOO_MANY_RECORDS = "rjct.search.too_many_records_found"

# SubscribeStatusReasonCode / UnSubscribeStatusReasonCode
NOTIFY_TYPES_INVALID = "rjct.notify_types.invalid"
NOTIFY_DETAILS_INVALID = "rjct.notify_details.invalid"
PERSON_ID_INVALID = "rjct.person_id.invalid"
SUBSCRIPTION_CODE_INVALID = "rjct.subscription_code.invalid"
ALREADY_UNSUBSCRIBED = "rjct.event.already_unsubscribed"


class DciError(DomainError):
    """A transport-layer refusal (``err.*``): answered 4xx with the standard's HttpErrorResponse."""


@dataclass(frozen=True)
class Rejection(Exception):
    """One request of a message refused with a reason code of the standard (``rjct.*``)."""

    reason_code: str
    message: str


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(at: dt.datetime | None = None) -> str:
    return (at or now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def parse_timestamp(value: str) -> dt.datetime:
    """An ISO 8601 instant with its zone (the schema's date-time); ValueError otherwise."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a timestamp needs its time zone")
    return parsed


def callback_header(
    *,
    action: str,
    sender_id: str,
    receiver_id: str | None,
    total_count: int,
    completed_count: int,
    status: str = SUCCEEDED,
    reason_code: str | None = None,
    reason_message: str | None = None,
) -> dict[str, Any]:
    """A ``MsgCallbackHeader_V1.0.0``: the header of responses and callbacks the registry sends."""
    header: dict[str, Any] = {
        "version": "1.0.0",
        "message_id": new_id(),
        "message_ts": timestamp(),
        "action": action,
        "status": status,
        "total_count": total_count,
        "completed_count": completed_count,
        "sender_id": sender_id,
        "is_msg_encrypted": False,
    }
    if receiver_id:
        header["receiver_id"] = receiver_id
    if reason_code:
        header["status_reason_code"] = reason_code
    if reason_message:
        header["status_reason_message"] = reason_message[:999]
    return header


def request_header(
    *, action: str, sender_id: str, receiver_id: str | None, total_count: int
) -> dict[str, Any]:
    """A ``MsgHeader_V1.0.0``: the header of a request the registry sends (none today but notify's)."""
    header: dict[str, Any] = {
        "version": "1.0.0",
        "message_id": new_id(),
        "message_ts": timestamp(),
        "action": action,
        "sender_id": sender_id,
        "total_count": total_count,
        "is_msg_encrypted": False,
    }
    if receiver_id:
        header["receiver_id"] = receiver_id
    return header


def ack(correlation_id: str, status: str = "ACK", error: tuple[str, str] | None = None) -> dict[str, Any]:
    """The acknowledgement of an asynchronous call (``components/responses/Response``)."""
    message: dict[str, Any] = {
        "ack_status": status,
        "timestamp": timestamp(),
        "correlation_id": correlation_id,
    }
    if error is not None:
        message["error"] = {"code": error[0], "message": error[1][:999]}
    return {"message": message}


def http_error(code: str, message: str) -> dict[str, Any]:
    """The body of a refusal: the standard's ``HttpErrorResponse`` (``errors``) and, beside it, the
    acknowledgement ``ERR`` with the same error (``message``), which is the form the compliance kit
    prefers; the one body validates against both schemas of the pinned document."""
    return {"errors": [{"code": code, "message": message[:999]}],
            **ack(new_id(), "ERR", (code if code.startswith("err.") else "err.request.bad", f"{code}: {message}"))}  # fmt: skip
