"""The standard's endpoints. Each takes the envelope through the same gate (:func:`receive`):
bearer token of an agency, the pinned schema, sender, signature, then replay and staleness; what
fails there is answered with the standard's ``HttpErrorResponse`` and an ``err.*`` or header
``rjct.*`` code, and every exchange is logged (``dci_exchanges``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from dtks_contracts.regions import contains
from dtks_contracts.vocabulary.roles import Role
from dtks_dci import search, standard
from dtks_dci.adapters.registry import RegistryClient
from dtks_dci.deps import DciDeps
from dtks_dci.domain import envelope as env
from dtks_dci.domain import locale as lang
from dtks_dci.domain.envelope import DciError
from dtks_dci.domain.grants import Grant
from dtks_dci.domain.records import FieldGrant
from dtks_dci.domain.signing import SignatureError, verify
from dtks_dci.domain.subscriptions import query_json, read_subscription
from dtks_dci.settings import DciSettings
from dtks_runtime.auth.deps import authenticate, bearer_token, require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.callback_guard import CallbackRefused
from dtks_runtime.problems import Problem

router = APIRouter()
MAX_REQUESTS = 100  # requests (search or subscribe) in one message

SYNC_SEARCH = "/registry/sync/search"
SEARCH = "/registry/search"
SUBSCRIBE = "/registry/subscribe"
UNSUBSCRIBE = "/registry/unsubscribe"
TXN_STATUS = "/registry/txn/status"
SYNC_TXN_STATUS = "/registry/sync/txn/status"


@dataclass
class Incoming:
    path: str
    principal: Principal
    grant: Grant
    header: dict[str, Any]
    message: dict[str, Any]
    log: dict[str, Any]


@dataclass
class Outcome:
    body: dict[str, Any] | bytes  # bytes: JSON already serialised (a signed envelope)
    outcome: str
    records: int = 0
    status: int = 200
    correlation_id: str | None = None


def agency_of(principal: Principal) -> str:
    """An agency's client id: its service account is ``service-account-<client>`` at the provider."""
    name = principal.name or ""
    return name.removeprefix("service-account-") if name.startswith("service-account-") else principal.subject


def deps_of(request: Request) -> DciDeps:
    """The service's dependencies (built in main.py once the runtime has started)."""
    deps: DciDeps = request.app.state.deps
    return deps


def _settings(request: Request) -> DciSettings:
    return deps_of(request).settings


async def receive(request: Request, path: str, log: dict[str, Any]) -> Incoming:
    """Authenticate, read and check one DCI envelope (token, JSON, schema, signature, freshness,
    replay), writing what it learns into ``log`` for the exchange record.

    Over 60 lines because the standard's checks run in one fixed order, each answering its own
    error code, and the exchange log must record how far a refused message got."""
    settings = _settings(request)
    try:
        principal = await authenticate(
            request.app.state.tokens, bearer_token(request.headers.get("authorization"))
        )
    except Problem as exc:
        raise DciError(
            "err.request.unauthorized", "Send your agency's bearer token (client credentials)."
        ) from exc
    if principal.role is not Role.AGENCY:
        raise DciError("err.request.forbidden", "Only partner agencies use the DCI interface.")
    agency = agency_of(principal)
    log["agency"] = agency
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DciError("err.request.bad", "The body is not JSON.") from exc
    found = standard.problems(path, body)
    if found:
        raise DciError("err.request.bad", "The envelope does not follow the DCI Social Registry API 1.0.0: "
                       + "; ".join(p[:200] for p in found[:5]))  # fmt: skip
    header, message = body["header"], body["message"]
    log.update(sender_id=header["sender_id"], message_id=header["message_id"], action=header["action"],
               transaction_id=message.get("transaction_id"))  # fmt: skip
    if header.get("is_msg_encrypted") or "ciphertext" in message:
        raise DciError(
            "err.encryption.invalid",
            "Encrypted messages are not accepted; send the message in clear over TLS.",
        )
    if header["sender_id"] != agency:
        raise DciError("err.sender_id.invalid", f"sender_id must be your agency's client id, {agency}.")
    if header.get("receiver_id") not in (None, settings.dci_registry_id):
        raise DciError("err.receiver_id.invalid", f"This registry is {settings.dci_registry_id}.")
    if header.get("version") not in (None, standard.STANDARD_VERSION):
        raise DciError(
            "err.version.not_supported", f"This registry speaks version {standard.STANDARD_VERSION}."
        )
    keys = deps_of(request).sender_keys.get(agency, {})
    try:
        if settings.dci_verify_signatures:
            verify(body.get("signature"), header, message, keys)
    except SignatureError as exc:
        raise DciError(f"err.signature.{exc.kind}", exc.why) from exc
    items = message.get("search_request", message.get("subscribe_request"))
    if isinstance(items, list) and header["total_count"] != len(items):
        raise DciError(
            env.TOTAL_COUNT_INVALID,
            f"header.total_count is {header['total_count']} but the message has {len(items)} requests.",
        )
    if isinstance(items, list) and len(items) > MAX_REQUESTS:
        raise DciError(env.TOTAL_COUNT_LIMIT, f"At most {MAX_REQUESTS} requests in one message.")
    sent = env.parse_timestamp(header["message_ts"])
    age = (env.now() - sent).total_seconds()
    if age > settings.dci_message_max_age_seconds or -age > settings.dci_message_max_skew_seconds:
        raise DciError(
            env.MESSAGE_TS_INVALID, "message_ts is too old or in the future; send a fresh message."
        )
    # Recorded (committed) before anything is answered; with concurrent requests' in one statement.
    fresh = await deps_of(request).writes.first_time((header["sender_id"], header["message_id"], sent))
    if not fresh:
        raise DciError(env.MESSAGE_ID_DUPLICATE, "This message_id was received before; a replay is refused.")
    grant = Grant(
        agency, principal.region, tuple(principal.programs), FieldGrant.of(settings.fields_of(agency))
    )
    return Incoming(path, principal, grant, header, message, log)


async def _log(request: Request, path: str, log: dict[str, Any], status: int, outcome: str, records: int,
               detail: str | None = None) -> None:  # fmt: skip
    # Committed before the answer leaves; with concurrent requests' entries in one statement.
    await deps_of(request).writes.log(
        (path, log.get("agency"), log.get("sender_id"), log.get("message_id"), log.get("transaction_id"),
         log.get("correlation_id"), log.get("action"), status, outcome, records, detail)
    )  # fmt: skip


async def handle(
    request: Request, path: str, handler: Callable[[Request, Incoming], Awaitable[Outcome]]
) -> Response:
    log: dict[str, Any] = {}
    try:
        incoming = await receive(request, path, log)
        done = await handler(request, incoming)
    except DciError as exc:
        status = deps_of(request).error_statuses.get(exc.code, 400)
        await _log(request, path, log, status, exc.code, 0, exc.detail[:500])
        raise
    log["correlation_id"] = done.correlation_id
    await _log(request, path, log, done.status, done.outcome, done.records)
    if isinstance(done.body, bytes):
        return Response(done.body, status_code=done.status, media_type="application/json")
    return JSONResponse(done.body, status_code=done.status)


def callback_envelope(
    request: Request, action: str, receiver: str, message: dict[str, Any], items: list[dict[str, Any]]
) -> bytes:
    """Our signed answer envelope, as the JSON bytes sent (see SigningKey.signed_body)."""
    header = env.callback_header(
        action=action, sender_id=_settings(request).dci_registry_id, receiver_id=receiver,
        total_count=len(items), completed_count=sum(1 for i in items if i.get("status") in (env.SUCCEEDED, env.REJECTED)),
    )  # fmt: skip
    return deps_of(request).signing_key.signed_body(header["sender_id"], header, message)


def _registry(request: Request) -> RegistryClient:
    client = deps_of(request).registry
    return client


# --- search ------------------------------------------------------------------------------------


async def _sync_search(request: Request, incoming: Incoming) -> Outcome:
    items = await search.answer(
        incoming.message, incoming.grant, _registry(request), _settings(request).dci_max_matches
    )
    correlation_id = env.new_id()
    message = {"transaction_id": incoming.message["transaction_id"], "correlation_id": correlation_id,
               "search_response": items}  # fmt: skip
    body = callback_envelope(request, "on-search", incoming.header["sender_id"], message, items)
    records = sum(len(i.get("data", {}).get("reg_records", [])) for i in items)
    outcome = ",".join(sorted({i.get("status_reason_code", i["status"]) for i in items}))
    return Outcome(body, outcome, records, correlation_id=correlation_id)


@router.post(
    SYNC_SEARCH, tags=["DCI sync"], summary="Search the register, answered at once (on-search envelope)"
)
async def sync_search(request: Request) -> Response:
    return await handle(request, SYNC_SEARCH, _sync_search)


# --- published key and the auditors' log -------------------------------------------------------


@router.get(
    "/.well-known/jwks.json", tags=["DCI keys"], summary="The public key our envelopes are signed with"
)
async def jwks(request: Request) -> dict[str, Any]:
    key = deps_of(request).signing_key
    return {"keys": [key.jwk()]}


@router.get("/exchanges", tags=["audit"], summary="The DCI exchange log, newest first (auditor)")
async def exchanges(
    request: Request,
    principal: Annotated[Principal, Depends(require_role(Role.AUDITOR))],
    agency: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    pool = deps_of(request).pool
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT * FROM dci_exchanges WHERE ($1::text IS NULL OR agency = $1)
               ORDER BY id DESC LIMIT $2""",
            agency, max(1, min(limit, 1000)),
        )  # fmt: skip
    return {
        "exchanges": [
            {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dict(r).items()}
            for r in rows
        ]
    }


# --- asynchronous calls ------------------------------------------------------------------------


async def _callback_uri(request: Request, incoming: Incoming) -> str:
    uri = incoming.header.get("sender_uri")
    if not uri:
        raise DciError(
            "err.sender_uri.invalid", "An asynchronous call needs header.sender_uri, where the answer goes."
        )
    parsed = urlsplit(uri)
    schemes = ("https",) if _settings(request).production else ("https", "http")
    if parsed.scheme not in schemes or not parsed.hostname:
        raise DciError(
            "err.sender_uri.invalid", f"sender_uri must be an absolute {' or '.join(schemes)} URL."
        )
    try:
        await deps_of(request).guard.check(str(uri))
    except CallbackRefused as exc:  # loopback, private, link-local or metadata: never called
        raise DciError("err.sender_uri.invalid", f"sender_uri is refused: {exc}") from exc
    return str(uri)


async def _take(request: Request, incoming: Incoming, kind: str, reference_ids: list[str],
                response: dict[str, Any] | None = None, status: str = env.RECEIVED,
                correlation_id: str | None = None) -> str:  # fmt: skip
    """Record an asynchronous transaction (answered later by the callback worker) and its id."""
    uri = await _callback_uri(request, incoming)
    correlation_id = correlation_id or env.new_id()
    async with deps_of(request).unit_of_work() as uow:
        await uow.conn.execute(
            """INSERT INTO dci_transactions (correlation_id, kind, agency, transaction_id, reference_ids,
                   grant_json, request, callback_uri, status, response)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            correlation_id, kind, incoming.grant.agency, incoming.message["transaction_id"], reference_ids,
            json.dumps(incoming.grant.as_json()), json.dumps(incoming.message), uri, status,
            None if response is None else json.dumps(response),
        )  # fmt: skip
    return correlation_id


async def _async_search(request: Request, incoming: Incoming) -> Outcome:
    refs = [i["reference_id"] for i in incoming.message["search_request"]]
    correlation_id = await _take(request, incoming, "search", refs)
    return Outcome(env.ack(correlation_id), "ACK", correlation_id=correlation_id)


@router.post(
    SEARCH, tags=["DCI async"], summary="Search the register; the result goes to sender_uri (on-search)"
)
async def async_search(request: Request) -> Response:
    return await handle(request, SEARCH, _async_search)


# --- transaction status ------------------------------------------------------------------------


async def txn_status_message(request: Request, incoming: Incoming, correlation_id: str) -> dict[str, Any]:
    """A ``TxnStatusResponse`` for the agency's own transaction named by the request."""
    asked = incoming.message["txnstatus_request"]
    kind, attribute, value = asked["txn_type"], asked["attribute_type"], asked["attribute_value"]
    pool = deps_of(request).pool
    column = {"transaction_id": "transaction_id = $3", "correlation_id": "correlation_id = $3",
              "reference_id_list": "reference_ids && $3::text[]"}[attribute]  # fmt: skip
    wanted = value if attribute == "reference_id_list" else str(value)
    if attribute == "reference_id_list" and not isinstance(value, list):
        wanted = [str(value)]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"""SELECT * FROM dci_transactions WHERE agency = $1 AND kind = $2 AND {column}
                ORDER BY created_at DESC LIMIT 1""",
            incoming.grant.agency, kind, wanted,
        )  # fmt: skip
    if row is None:
        status: dict[str, Any] = {
            "transaction_id": str(value) if attribute == "transaction_id" else incoming.message["transaction_id"],
            "correlation_id": str(value) if attribute == "correlation_id" else "",
            "search_response": [{"reference_id": asked["reference_id"], "timestamp": env.timestamp(),
                                 "status": env.REJECTED, "status_reason_code": "rjct.reference_id.invalid",
                                 "status_reason_message": "No transaction of your agency matches."}],
        }  # fmt: skip
    elif row["response"] is not None:
        status = json.loads(row["response"])
        if "search_response" not in status:  # subscribe/unsubscribe results, told in search_response's shape
            items = status.get("subscribe_response") or [
                {"reference_id": asked["reference_id"], "status": status.get("status", env.SUCCEEDED)}
            ]
            status = {"transaction_id": row["transaction_id"], "correlation_id": row["correlation_id"],
                      "search_response": [{"reference_id": i["reference_id"], "timestamp": env.timestamp(),
                                           "status": i["status"]} for i in items]}  # fmt: skip
    else:
        status = {"transaction_id": row["transaction_id"], "correlation_id": row["correlation_id"],
                  "search_response": [{"reference_id": r, "timestamp": env.timestamp(), "status": env.PENDING}
                                      for r in row["reference_ids"]]}  # fmt: skip
    return {"transaction_id": incoming.message["transaction_id"], "correlation_id": correlation_id,
            "txnstatus_response": {"txn_type": kind, "txn_status": status}}  # fmt: skip


async def _sync_txn_status(request: Request, incoming: Incoming) -> Outcome:
    message = await txn_status_message(request, incoming, env.new_id())
    body = callback_envelope(
        request, "txn-on-status", incoming.header["sender_id"], message, [{"status": env.SUCCEEDED}]
    )
    return Outcome(body, "succ", correlation_id=message["correlation_id"])


async def _async_txn_status(request: Request, incoming: Incoming) -> Outcome:
    # The callback carries the acknowledgement's correlation id, as the other asynchronous answers do.
    correlation_id = env.new_id()
    message = await txn_status_message(request, incoming, correlation_id)
    ref = incoming.message["txnstatus_request"]["reference_id"]
    await _take(request, incoming, "txn-status", [ref], message, env.SUCCEEDED, correlation_id=correlation_id)
    return Outcome(env.ack(correlation_id), "ACK", correlation_id=correlation_id)


@router.post(
    SYNC_TXN_STATUS, tags=["DCI sync"], summary="The status of an earlier transaction, answered at once"
)
async def sync_txn_status(request: Request) -> Response:
    return await handle(request, SYNC_TXN_STATUS, _sync_txn_status)


@router.post(
    TXN_STATUS, tags=["DCI async"], summary="The status of an earlier transaction, sent to sender_uri"
)
async def async_txn_status(request: Request) -> Response:
    return await handle(request, TXN_STATUS, _async_txn_status)


# --- subscriptions -----------------------------------------------------------------------------


async def _subscribe(request: Request, incoming: Incoming) -> Outcome:
    grant = incoming.grant
    items: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    uri = await _callback_uri(request, incoming)
    for item in incoming.message["subscribe_request"]:
        base = {
            "reference_id": item["reference_id"],
            "timestamp": env.timestamp(),
            "locale": lang.chosen(item.get("locale")),
        }
        criteria = item["subscribe_criteria"]
        try:
            if item["reference_id"] in seen:
                raise env.Rejection(
                    env.REFERENCE_ID_DUPLICATE, "This reference_id appears earlier in the same message."
                )
            seen.add(item["reference_id"])
            query, _ = read_subscription(criteria)
            if query.region is not None and not contains(grant.region, query.region):
                raise env.Rejection(
                    env.NOTIFY_DETAILS_INVALID, f"Region {query.region} is outside your agency's grant."
                )
            if query.program is not None and grant.programs and query.program not in grant.programs:
                raise env.Rejection(
                    env.NOTIFY_DETAILS_INVALID, f"Your agency is not granted {query.program}."
                )
        except env.Rejection as refused:
            items.append({**base, "status": env.REJECTED, "status_reason_code": refused.reason_code,
                          "status_reason_message": lang.message(refused.reason_code, refused.message, base["locale"])})  # fmt: skip
            continue
        code = env.new_id()
        info = {"code": code, "status": "subscribe", "timestamp": env.timestamp(), "reg_event_type": criteria["reg_event_type"],
                "filter_type": criteria.get("filter_type", "expression"), "filter": criteria["filter"],
                "notify_record_type": criteria["notify_record_type"]}  # fmt: skip
        items.append({**base, "status": env.SUCCEEDED, "subscriptions": [info]})
        rows.append((code, grant.agency, item["reference_id"], json.dumps(grant.as_json()), json.dumps(criteria),
                     json.dumps(query_json(query)), uri))  # fmt: skip
    correlation_id = env.new_id()
    response = {
        "transaction_id": incoming.message["transaction_id"],
        "correlation_id": correlation_id,
        "subscribe_response": items,
    }
    async with deps_of(request).unit_of_work() as uow:
        await uow.conn.executemany(
            """INSERT INTO dci_subscriptions (code, agency, reference_id, grant_json, criteria, query, callback_uri)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            rows,
        )
        await uow.conn.execute(
            """INSERT INTO dci_transactions (correlation_id, kind, agency, transaction_id, reference_ids, grant_json,
                   request, callback_uri, status, response) VALUES ($1, 'subscribe', $2, $3, $4, $5, $6, $7, 'succ', $8)""",
            correlation_id, grant.agency, incoming.message["transaction_id"], sorted(seen), json.dumps(grant.as_json()),
            json.dumps(incoming.message), uri, json.dumps(response),
        )  # fmt: skip
    return Outcome(env.ack(correlation_id), "ACK", correlation_id=correlation_id)


@router.post(
    SUBSCRIBE, tags=["DCI async"], summary="Subscribe to the register's changes at each decree (notify)"
)
async def subscribe(request: Request) -> Response:
    return await handle(request, SUBSCRIBE, _subscribe)


async def _unsubscribe(request: Request, incoming: Incoming) -> Outcome:
    codes = list(dict.fromkeys(incoming.message["subscription_codes"]))
    uri = await _callback_uri(request, incoming)
    correlation_id = env.new_id()
    async with deps_of(request).unit_of_work() as uow:
        found = {r["code"]: r["status"] for r in await uow.conn.fetch(
            "SELECT code, status FROM dci_subscriptions WHERE agency = $1 AND code = ANY($2::text[]) FOR UPDATE",
            incoming.grant.agency, codes)}  # fmt: skip
        response: dict[str, Any] = {"transaction_id": incoming.message["transaction_id"], "correlation_id": correlation_id,
                                    "timestamp": env.timestamp()}  # fmt: skip
        unknown = [c for c in codes if c not in found]
        ended = [c for c in codes if found.get(c) == "unsubscribe"]
        if unknown or ended or not codes:
            # All or nothing: a list with a code that is not the agency's changes none of them.
            reason = env.SUBSCRIPTION_CODE_INVALID if unknown or not codes else env.ALREADY_UNSUBSCRIBED
            response.update(status=env.REJECTED, status_reason_code=reason,
                            status_reason_message=f"Unknown: {', '.join(unknown) or '-'}; already ended: {', '.join(ended) or '-'}.")  # fmt: skip
        else:
            await uow.conn.execute(
                "UPDATE dci_subscriptions SET status = 'unsubscribe', ended_at = now() WHERE code = ANY($1::text[])",
                codes,
            )
            response.update(
                status=env.SUCCEEDED,
                subscription_status=[{"code": c, "status": "unsubscribe"} for c in codes],
            )
        await uow.conn.execute(
            """INSERT INTO dci_transactions (correlation_id, kind, agency, transaction_id, grant_json, request,
                   callback_uri, status, response) VALUES ($1, 'unsubscribe', $2, $3, $4, $5, $6, $7, $8)""",
            correlation_id, incoming.grant.agency, incoming.message["transaction_id"], json.dumps(incoming.grant.as_json()),
            json.dumps(incoming.message), uri, response["status"], json.dumps(response),
        )  # fmt: skip
    return Outcome(env.ack(correlation_id), "ACK", correlation_id=correlation_id)


@router.post(UNSUBSCRIBE, tags=["DCI async"], summary="End subscriptions (on-unsubscribe to sender_uri)")
async def unsubscribe(request: Request) -> Response:
    return await handle(request, UNSUBSCRIBE, _unsubscribe)
