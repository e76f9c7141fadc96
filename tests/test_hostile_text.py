"""Hostile text: NUL, other control characters and a bidirectional override in every text field of
every JSON request body of the four services, and a poisoned bulk import beside a clean one.

The fields are not listed by hand: for each service the operations with a JSON body come from its
own OpenAPI document (``app.openapi()``), and the text fields from walking the request schema
(``$ref``, ``anyOf``, nested objects and arrays) together with a valid base body: every string the
body holds, and every optional string property it leaves out (sent poisoned). A body whose schema
is free-form (``POST /decisions``, the items of ``POST /proposals/batch``) is walked through the
base body's own strings. The valid base bodies come from the examples' builders (``dtks_synthetic``
through ``dtks_proposal.testing.sample_bodies``) and, for the smaller bodies, from the examples of
each route's documentation; a route with a JSON body but no base body here fails the test, so a new
route cannot slip past.

For each field and each poison (U+0000, U+001B, U+0085 and U+202E, put inside an otherwise
plausible value) the request must be answered 422 with a problem document whose ``errors`` name the
field (for a batch: the item's result), never 5xx and never another refusal (a 404 for the made-up
proposal id the body names would say nothing about the text); and a service's tables hold as many rows after all
its poisoned requests as before. URL fields are poisoned in the host: in a URL's path a parser
percent-encodes the character, which is harmless text.

Covered, per service: proposal (POST /proposals, /proposals/batch, /proposals/{id}/resubmissions,
/proposals/{id}/withdrawal, PUT /windows/{regency}; the upload's form fields and file separately),
verification (POST /decisions, /ratifications, /proposals/{id}/field-visits, /freezes and their
changes, PUT /deadlines, POST /reverification-rounds and a round's visits), registry
(POST /determinations, /welfare-deciles, /audit/replays), notification (PUT /directory,
POST /subscriptions).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from dtks_contracts.vocabulary.roles import Role
from dtks_notification.main import build_app as build_notification
from dtks_notification.settings import NotificationSettings
from dtks_proposal.main import build_app as build_proposal
from dtks_proposal.settings import ProposalSettings
from dtks_proposal.testing import IMPORT_FORM, csv_bytes, sample_bodies, village_rows
from dtks_proposal.testing import VILLAGE as OPERATOR_VILLAGE
from dtks_registry.main import build_app as build_registry
from dtks_registry.settings import RegistrySettings
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra, wait_until
from dtks_verification.main import build_app as build_verification
from dtks_verification.settings import VerificationSettings

pytestmark = pytest.mark.infra

POISONS = ("\u0000", "\u001b", "\u0085", "\u202e")
tokens = TokenService(LOCAL_JWT_SECRET)

VILLAGE = (Role.VILLAGE_OPERATOR, OPERATOR_VILLAGE)
DISTRICT = (Role.DISTRICT_VERIFIER, "17.71.01")
REGENT = (Role.REGENT, "17.71")
MINISTRY = (Role.MINISTRY_VERIFIER, "ID")
DETERMINER = (Role.MINISTRY_DETERMINER, "ID")
AUDITOR = (Role.AUDITOR, "ID")
AGENCY = (Role.AGENCY, "ID")


def _auth(who: tuple[Role, str]) -> dict[str, str]:
    role, region = who
    token = tokens.issue(subject=f"hostile-{role.value}", role=role, region=region, ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


# --- valid base bodies, per operation -------------------------------------------------------------


def _proposal_body() -> dict[str, Any]:
    return {**sample_bodies(1, seed=21)[0], "proposal_id": str(uuid.uuid4())}


ANY_ID = "2f6c1d1e-8a4b-4c4e-9a57-3d2b0c1f9e10"


@dataclass(frozen=True)
class Operation:
    """A JSON-body operation, how to call it, and a valid body to poison."""

    caller: tuple[Role, str]
    path: str  # the path with its parameters filled in
    body: Callable[[], Any]
    batch: bool = False  # answers 200 with a result per item


OPERATIONS: dict[str, dict[str, Operation]] = {
    "proposal": {
        "POST /proposals": Operation(VILLAGE, "/proposals", _proposal_body),
        "POST /proposals/batch": Operation(
            VILLAGE, "/proposals/batch", lambda: {"items": [_proposal_body()]}, batch=True
        ),
        "POST /proposals/{proposal_id}/resubmissions": Operation(
            VILLAGE, f"/proposals/{ANY_ID}/resubmissions", _proposal_body
        ),
        "POST /proposals/{proposal_id}/withdrawal": Operation(
            VILLAGE, f"/proposals/{ANY_ID}/withdrawal", lambda: {"reason": "Keluarga pindah ke Medan"}
        ),
        "PUT /windows/{regency_code}": Operation(
            MINISTRY,
            "/windows/17.71",
            lambda: {"open": True, "period": {"start": "2026-01-01", "end": "2026-12-31"}, "quota": 5},
        ),
    },
    "verification": {
        "POST /decisions": Operation(
            DISTRICT,
            "/decisions",
            lambda: {
                "proposal_id": ANY_ID,
                "tier": "district",
                "decision": "return",
                "reasons": ["ADDRESS_NOT_FOUND"],
                "note": "RT/RW tidak ada",
            },
        ),
        "POST /ratifications": Operation(
            REGENT,
            "/ratifications",
            lambda: {
                "regency_code": "17.71",
                "decree_number": "400.9/12/SK/2026",
                "decree_date": "2026-11-02",
                "proposal_ids": [ANY_ID],
            },
        ),
        "POST /proposals/{proposal_id}/field-visits": Operation(
            DISTRICT,
            f"/proposals/{ANY_ID}/field-visits",
            lambda: {
                "officer": "Andi Wijaya",
                "visit_date": "2026-11-02",
                "latitude": -3.79,
                "longitude": 102.26,
                "photos": [{"subject": "roof", "sha256": "a" * 64, "location": "photos/roof-1.jpg"}],
            },
        ),
        "POST /freezes": Operation(
            MINISTRY,
            "/freezes",
            lambda: {
                "scope": "17.71",
                "actions": ["tier_decisions"],
                "starts_at": "2027-03-01T00:00:00Z",
                "ends_at": "2027-03-15T00:00:00Z",
                "reason": "Audit BPK atas data Kota Bengkulu",
            },
        ),
        "POST /freezes/{freeze_id}/shorten": Operation(
            MINISTRY,
            f"/freezes/{ANY_ID}/shorten",
            lambda: {"ends_at": "2027-03-10T00:00:00Z", "reason": "Audit selesai lebih cepat"},
        ),
        "POST /freezes/{freeze_id}/lift": Operation(
            MINISTRY, f"/freezes/{ANY_ID}/lift", lambda: {"reason": "Audit dibatalkan"}
        ),
        "PUT /deadlines/{tier}": Operation(
            MINISTRY, "/deadlines/district", lambda: {"working_days": 10, "regency_code": "17.71"}
        ),
        "POST /reverification-rounds": Operation(
            MINISTRY,
            "/reverification-rounds",
            lambda: {
                "region": "17.71.01",
                "period_start": "2027-01-04",
                "period_end": "2027-03-31",
                "selection": {"mode": "sample", "sample_size": 5, "seed": 7},
                "size_limit": 10,
            },
        ),
        "POST /reverification-rounds/{round_id}/visits": Operation(
            DISTRICT,
            f"/reverification-rounds/{ANY_ID}/visits",
            lambda: {
                "household_id": ANY_ID,
                "outcome": "moved",
                "note": "Pindah ke Kota Medan sejak Oktober",
                "officer": "Andi Wijaya",
                "visit_date": "2027-01-12",
                "latitude": -3.79,
                "longitude": 102.26,
                "photos": [{"subject": "house", "sha256": "a" * 64, "location": "photos/house-1.jpg"}],
            },
        ),
    },
    "registry": {
        "POST /determinations": Operation(
            DETERMINER,
            "/determinations",
            lambda: {
                "decree_number": "12/HUK/2027",
                "period": "2027-01",
                "cutoff": "2026-12-31T23:59:59+07:00",
            },
        ),
        "POST /welfare-deciles": Operation(
            MINISTRY,
            "/welfare-deciles",
            lambda: {
                "source": "BPS ranking 2026-Q4",
                "as_of": "2026-11-01",
                "households": [{"household_id": "h-1", "decile": 3}],
            },
        ),
        "POST /audit/replays": Operation(
            AUDITOR, "/audit/replays", lambda: {"mode": "verify", "as_of_decree": "12/HUK/2027"}
        ),
        "POST /households/lookup": Operation(
            AUDITOR, "/households/lookup", lambda: {"household_ids": ["h-1", "h-2"], "region": "17.71"}
        ),
    },
    "notification": {
        "PUT /directory": Operation(
            MINISTRY,
            "/directory",
            lambda: {
                "role": "village_operator",
                "region": "17.71.01.1001",
                "subject": "operator-1",
                "email": "desa@example.org",
                "phone": "+6281234567890",
            },
        ),
        "POST /subscriptions": Operation(
            AGENCY,
            "/subscriptions",
            lambda: {
                "callback_url": "https://agency.example.org/hooks/dtks",
                "secret": "a-shared-secret-of-32-characters",
                "event_types": ["registry.household_registered"],
                "regions": ["17.71"],
                "programs": ["PKH"],
            },
        ),
    },
}

# The tables each service's routes write (the event store's `events` besides).
WRITTEN_TABLES = {
    "proposal": ("events", "proposals", "proposal_timeline", "idempotency", "windows", "imports"),
    "verification": (
        "events",
        "proposals",
        "field_visits",
        "ratifications",
        "pending_checks",
        "freezes",
        "deadline_policies",
        "reverification_rounds",
        "prelist_entries",
    ),
    "registry": ("events", "determinations", "household_changes", "households", "members", "welfare_deciles"),
    "notification": ("directory", "subscriptions", "inbox_reads", "deliveries"),
}


# --- walking the request schemas ------------------------------------------------------------------

Path = tuple[str | int, ...]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _branches(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(doc, schema)
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if not options:
        return [schema]
    return [b for option in options for b in _branches(doc, option)]


def _is_text(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    return any(b.get("type") == "string" for b in _branches(doc, schema))


def text_fields(doc: dict[str, Any], schema: dict[str, Any], body: Any, at: Path = ()) -> Iterator[Path]:
    """Every place of ``body`` that holds text, or could (an optional string property it lacks)."""
    if isinstance(body, str):
        yield at
        return
    branches = _branches(doc, schema)
    if isinstance(body, dict):
        objects = [b for b in branches if b.get("type") == "object" or "properties" in b] or [{}]
        properties: dict[str, Any] = {}
        for b in objects:
            properties.update(b.get("properties", {}))
        for name, value in body.items():
            yield from text_fields(doc, properties.get(name, {}), value, (*at, name))
        for name, sub in properties.items():
            if name not in body and _is_text(doc, sub):
                yield (*at, name)
    elif isinstance(body, list):
        items = next((b.get("items", {}) for b in branches if b.get("type") == "array"), {})
        if body:
            yield from text_fields(doc, items, body[0], (*at, 0))
        elif _is_text(doc, items):
            yield (*at, 0)


def _is_url(doc: dict[str, Any], schema: dict[str, Any], body: Any, at: Path) -> bool:
    for key in at:
        if isinstance(key, int):
            branches = _branches(doc, schema)
            schema = next((b.get("items", {}) for b in branches if b.get("type") == "array"), {})
        else:
            props: dict[str, Any] = {}
            for b in _branches(doc, schema):
                props.update(b.get("properties", {}))
            schema = props.get(key, {})
    return any(b.get("format") == "uri" for b in _branches(doc, schema))


def poisoned(body: Any, at: Path, poison: str, url: bool) -> Any:
    """A copy of ``body`` with the text at ``at`` poisoned (set, if the body lacked it)."""
    body = copy.deepcopy(body)
    parent = body
    for key in at[:-1]:
        parent = parent[key]
    last = at[-1]
    old = (
        parent[last]
        if (isinstance(parent, dict) and last in parent)
        or (isinstance(parent, list) and isinstance(last, int) and last < len(parent))
        else None
    )
    if url and isinstance(old, str):
        scheme, _, rest = old.partition("://")
        value = f"{scheme}://agen{poison}cy.{rest}"
    elif isinstance(old, str) and len(old) > 1:
        value = old[:1] + poison + old[1:]
    else:
        value = f"Nilai{poison}palsu"
    if isinstance(parent, list) and isinstance(last, int) and last >= len(parent):
        parent.append(value)
    else:
        parent[last] = value
    return body


def field_name(at: Path) -> str:
    out = ""
    for key in at:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


# --- the services ---------------------------------------------------------------------------------


def _settings(infra: Infra, service: str) -> dict[str, Any]:
    return {
        "kafka_bootstrap": infra.kafka_bootstrap,
        "database_url": infra.database_url,
        "database_name": f"hostile_{service}_{uuid.uuid4().hex[:8]}",
        "topic_prefix": f"h{uuid.uuid4().hex[:10]}.",
        "log_level": "error",
    }


def _build(infra: Infra, service: str) -> FastAPI:
    base = _settings(infra, service)
    if service == "proposal":
        return build_proposal(ProposalSettings(**base, import_chunk_households=2))
    if service == "verification":
        return build_verification(
            VerificationSettings(**base, civil_registry_url="http://127.0.0.1:9", civil_registry_retries=0)
        )
    if service == "registry":
        return build_registry(RegistrySettings(**base))
    return build_notification(NotificationSettings(**base, notification_sender_enabled=False))


@pytest.fixture(scope="module")
async def running(infra: Infra) -> AsyncIterator[dict[str, tuple[FastAPI, httpx.AsyncClient]]]:
    async with AsyncExitStack() as stack:
        apps: dict[str, tuple[FastAPI, httpx.AsyncClient]] = {}
        for service in OPERATIONS:
            app = _build(infra, service)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                    base_url=f"http://{service}",
                )
            )
            apps[service] = (app, client)
        yield apps


async def _rows(app: FastAPI, tables: tuple[str, ...]) -> dict[str, int]:
    conn = await asyncpg.connect(app.state.runtime.database_url)
    try:
        counts = {}
        for table in tables:
            if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
                counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return counts
    finally:
        await conn.close()


# Field names a client may send that the service reports under the model's own name.
ALIASES = {"deliberation.date": "deliberation.held_on"}


def _named(problem: dict[str, Any], name: str) -> bool:
    """Whether the problem's ``errors`` name the field (``a.b[0]``; ``a.b.0`` is the same place)."""
    wanted = {name, ALIASES.get(name, name)}
    wanted |= {w.replace("[", ".").replace("]", "") for w in wanted}
    return any(str(e.get("field")) in wanted for e in problem.get("errors", []))


@pytest.mark.parametrize("service", list(OPERATIONS))
async def test_every_text_field_of_every_json_body_refuses_control_and_direction_characters(
    running: dict[str, tuple[FastAPI, httpx.AsyncClient]], service: str
) -> None:
    app, client = running[service]
    doc = app.openapi()
    json_operations = {
        f"{method.upper()} {path}": op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    }
    assert set(json_operations) == set(OPERATIONS[service]), "a JSON-body route without a base body here"
    before = await _rows(app, WRITTEN_TABLES[service])
    tried, failures = 0, []
    for label, operation in OPERATIONS[service].items():
        method = label.split()[0]
        schema = json_operations[label]["requestBody"]["content"]["application/json"]["schema"]
        base = operation.body()
        fields = list(text_fields(doc, schema, base))
        assert fields, f"{label}: no text field found"
        for at in fields:
            url = _is_url(doc, schema, base, at)
            for poison in POISONS:
                body = poisoned(base, at, poison, url)
                answer = await client.request(
                    method, operation.path, json=body, headers=_auth(operation.caller)
                )
                tried += 1
                name = field_name(at)
                what = f"{label} {name} U+{ord(poison):04X}"
                if operation.batch and answer.status_code == 200:
                    result = answer.json()["results"][0]
                    name = field_name(at[2:])
                    if not (400 <= result["status"] < 500 and _named(result["problem"], name)):
                        failures.append(f"{what}: item answered {result['status']} {result.get('problem')}")
                    continue
                # 422 (not a 404 for the made-up proposal id, say): the text itself is refused.
                if answer.status_code != 422:
                    failures.append(f"{what}: answered {answer.status_code} {answer.text[:200]}")
                    continue
                problem = answer.json()
                if not answer.headers["content-type"].startswith("application/problem+json"):
                    failures.append(f"{what}: not a problem document")
                elif not _named(problem, name):
                    failures.append(f"{what}: 422 without naming the field: {problem.get('errors')}")
    assert failures == [], f"{len(failures)} of {tried} poisoned requests:\n" + "\n".join(failures)
    assert await _rows(app, WRITTEN_TABLES[service]) == before


async def _import_status(client: httpx.AsyncClient, import_id: str) -> str:
    view = (await client.get(f"/imports/{import_id}", headers=_auth(VILLAGE))).json()
    return str(view["status"])


async def test_a_poisoned_import_beside_a_clean_one_rejects_its_rows_and_both_complete(
    running: dict[str, tuple[FastAPI, httpx.AsyncClient]],
) -> None:
    _app, client = running["proposal"]
    rows = [dict(r) for r in village_rows(4, seed=31)]
    rows[0]["name"] = "Siti\u0000Aminah"
    rows[1]["street"] = "Jl. \u202eMerapi"
    rows[2]["occupation"] = "Petani\u001b[31m"
    clean = village_rows(4, seed=32)
    ids = []
    for name, data in (("poisoned.csv", csv_bytes(rows)), ("clean.csv", csv_bytes(clean))):
        upload = await client.post(
            "/imports", files={"file": (name, data, "text/csv")}, data=IMPORT_FORM, headers=_auth(VILLAGE)
        )
        assert upload.status_code == 202, upload.text
        ids.append(upload.json()["import_id"])
    for import_id in reversed(ids):

        async def completed(import_id: str = import_id) -> bool:
            return await _import_status(client, import_id) == "completed"

        await wait_until(completed, within=60, what=f"import {import_id} completed")
    poisoned_view = (await client.get(f"/imports/{ids[0]}", headers=_auth(VILLAGE))).json()
    clean_view = (await client.get(f"/imports/{ids[1]}", headers=_auth(VILLAGE))).json()
    assert clean_view["households_accepted"] == 4 and clean_view["rows_rejected"] == 0, str(clean_view)
    reported = {(r["row"], r["field"]) for r in poisoned_view["rejected_rows"]}
    assert {(2, "name"), (3, "address_street"), (4, "occupation")} <= reported
    assert poisoned_view["households_accepted"] + poisoned_view["households_rejected"] == 4

    # The upload's own form fields are text too.
    for field in ("village_code", "deliberation_minutes_ref"):
        form = {
            **IMPORT_FORM,
            field: f"{OPERATOR_VILLAGE}\u0000" if field == "village_code" else "BA\u202e-07",
        }
        answer = await client.post(
            "/imports",
            files={"file": ("f.csv", csv_bytes(village_rows(1, seed=33)), "text/csv")},
            data=form,
            headers=_auth(VILLAGE),
        )
        assert answer.status_code == 422, answer.text
        assert _named(answer.json(), field)
