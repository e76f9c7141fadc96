"""Bad input, tried as a client would: every public endpoint fuzzed from its own OpenAPI document.

For each service (proposal, verification, registry, notification, and the civil-registry
simulator) and each operation of its OpenAPI document, schemathesis generates requests in two
modes: *positive* (data valid for the schema) and *negative* (data that breaks it). Every example
is sent twice: once with a valid bearer token of a role that may use the operation, and once as a
client without the right to (no token, a malformed one, one signed with another secret, an
expired one, or a valid token of a role the operation is not for). What must hold:

- no 5xx and no crash, ever;
- every 4xx is an RFC 9457 problem document (``application/problem+json`` with type, title,
  status, detail and code, its status equal to the response's);
- invalid data (negative mode) is rejected (schemathesis' ``negative_data_rejection`` check);
- a protected operation never answers 2xx to a caller without a valid token;
- nothing is written by a rejected request: the service's event store (``events``) and the tables
  its routes write are unchanged across every call answered 4xx.

How the services run: each is built in-process with its ``build_app(settings)`` against the
session's real Kafka and PostgreSQL (its own database and topic prefix) and served by a real
uvicorn on a free loopback port in a thread, with its lifespan running (uvicorn drives the app's
``lifespan_context``). We chose uvicorn over schemathesis' ASGI transport because that transport
runs the application and its lifespan on a private, process-wide event loop that it stops only at
interpreter exit, and the checks above need to query the service's own pool on the service's
loop between calls; with uvicorn both are ours (``run_coroutine_threadsafe`` onto the server's
loop), and the requests go through real HTTP parsing as a client's would.

Bounded for CI: examples per operation and mode come from ``DTKS_FUZZ_EXAMPLES`` (default 10),
derandomized (a fixed seed per test), no example database, no deadline.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection

from dtks_civil_registry.main import build_app as build_civil_registry
from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_contracts.vocabulary.roles import Role
from dtks_notification.main import build_app as build_notification
from dtks_notification.settings import NotificationSettings
from dtks_proposal.main import build_app as build_proposal
from dtks_proposal.settings import ProposalSettings
from dtks_registry.main import build_app as build_registry
from dtks_registry.settings import RegistrySettings
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra
from dtks_verification.main import build_app as build_verification
from dtks_verification.settings import VerificationSettings

pytestmark = [
    pytest.mark.infra,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = int(os.environ.get("DTKS_FUZZ_EXAMPLES", "10"))
PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code")

tokens = TokenService(LOCAL_JWT_SECRET)
forger = TokenService("not-the-secret-of-this-deployment")


# --- who calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    role: Role
    region: str

    def token(self, service: TokenService = tokens, ttl_seconds: int = 3600) -> str:
        subject = f"fuzz-{self.role.value}@{self.region}"
        return service.issue(subject=subject, role=self.role, region=self.region, ttl_seconds=ttl_seconds)


VILLAGE = Who(Role.VILLAGE_OPERATOR, "17.71.01.1001")
DISTRICT = Who(Role.DISTRICT_VERIFIER, "17.71.01")
REGENCY = Who(Role.REGENCY_OPERATOR, "17.71")
REGENT = Who(Role.REGENT, "17.71")
MINISTRY = Who(Role.MINISTRY_VERIFIER, "ID")
DETERMINER = Who(Role.MINISTRY_DETERMINER, "ID")
AUDITOR = Who(Role.AUDITOR, "ID")
AGENCY = Who(Role.AGENCY, "ID")

# How a caller without the right to an operation presents itself. "wrong role" is a valid token
# of the role farthest from the operation's (an agency, or a village operator for an agency's route).
UNAUTHORIZED = ("no token", "malformed", "forged", "expired", "wrong role")


def authorization(kind: str, who: Who) -> str | None:
    match kind:
        case "valid":
            return f"Bearer {who.token()}"
        case "no token":
            return None
        case "malformed":
            return "Bearer not.a-jwt"
        case "forged":
            return f"Bearer {who.token(forger)}"
        case "expired":
            return f"Bearer {who.token(ttl_seconds=-120)}"
        case "wrong role":
            return f"Bearer {(VILLAGE if who.role is Role.AGENCY else AGENCY).token()}"
    raise AssertionError(kind)


# --- the services under fuzz ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One service: how to build it, who calls each operation, and what a rejected call must not change."""

    name: str
    build: Callable[[Infra, str, str], FastAPI]  # infra, database name, topic prefix
    callers: dict[str, Who]  # operation label ("POST /proposals") -> a role that may use it
    public: frozenset[str] = frozenset()  # operations anyone may call without a token
    # Tables the service's routes write; with the event store, they must not change on a 4xx.
    written_tables: tuple[str, ...] = ()
    has_event_store: bool = True
    after_call: Callable[[str, str], None] | None = None  # (label, base url): undo a global switch

    def caller(self, label: str) -> Who:
        return self.callers.get(label, AUDITOR)


def _runtime_settings(infra: Infra, database: str, prefix: str) -> dict[str, Any]:
    return {
        "kafka_bootstrap": infra.kafka_bootstrap,
        "database_url": infra.database_url,
        "database_name": database,
        "topic_prefix": prefix,
        "log_level": "error",
    }


def _proposal(infra: Infra, database: str, prefix: str) -> FastAPI:
    # The import worker stays off: it turns an accepted upload into events later, at any moment,
    # which would blur "this rejected call wrote nothing". Uploads are still fuzzed and staged.
    return build_proposal(
        ProposalSettings(**_runtime_settings(infra, database, prefix), import_worker_enabled=False)
    )


def _verification(infra: Infra, database: str, prefix: str) -> FastAPI:
    # Nothing answers there: a proposal reaching the checks would wait for the civil registry.
    return build_verification(
        VerificationSettings(
            **_runtime_settings(infra, database, prefix),
            civil_registry_url="http://127.0.0.1:9",
            civil_registry_retries=0,
        )
    )


def _registry(infra: Infra, database: str, prefix: str) -> FastAPI:
    # The citizens' check is rate limited; lifted here so the fuzzer reaches the route behind it.
    return build_registry(
        RegistrySettings(
            **_runtime_settings(infra, database, prefix),
            registry_public_check_per_minute=600_000,
            registry_public_check_burst=100_000,
        )
    )


def _notification(infra: Infra, database: str, prefix: str) -> FastAPI:
    return build_notification(
        NotificationSettings(**_runtime_settings(infra, database, prefix), notification_sender_enabled=False)
    )


def _civil_registry(infra: Infra, database: str, prefix: str) -> FastAPI:
    settings = _runtime_settings(infra, database, prefix)
    settings["database_name"] = database
    return build_civil_registry(CivilRegistrySettings(**settings))


def _end_outage(label: str, base_url: str) -> None:
    # A fuzzed POST /admin/outage would make every later call answer 503 by design: switch it off.
    if label == "POST /admin/outage":
        requests.delete(f"{base_url}/admin/outage", timeout=10).raise_for_status()


TARGETS = {
    t.name: t
    for t in (
        Target(
            name="proposal",
            build=_proposal,
            callers={
                "PUT /windows/{regency_code}": MINISTRY,
                "GET /windows/{regency_code}": MINISTRY,
            }
            | {
                label: VILLAGE
                for label in (
                    "POST /proposals",
                    "GET /proposals",
                    "POST /proposals/batch",
                    "GET /proposals/{proposal_id}",
                    "POST /proposals/{proposal_id}/resubmissions",
                    "POST /proposals/{proposal_id}/withdrawal",
                    "POST /imports",
                    "GET /imports/{import_id}",
                    "POST /imports/{import_id}/cancellation",
                )
            },
            public=frozenset({"GET /healthz", "GET /readyz"}),
            written_tables=("proposals", "proposal_timeline", "idempotency", "windows", "imports"),
        ),
        Target(
            name="verification",
            build=_verification,
            callers={
                "GET /queues/stats": REGENCY,
                "GET /queues/{tier}": DISTRICT,
                "POST /decisions": DISTRICT,
                "POST /ratifications": REGENT,
                "GET /proposals/{proposal_id}/verification": AUDITOR,
                "POST /proposals/{proposal_id}/field-visits": DISTRICT,
                "PUT /evidence/{sha256}": DISTRICT,
            },
            public=frozenset({"GET /healthz", "GET /readyz"}),
            written_tables=(
                "proposals",
                "field_visits",
                "ratifications",
                "pending_checks",
                "evidence_photos",
            ),
        ),
        Target(
            name="registry",
            build=_registry,
            callers={
                "POST /determinations": DETERMINER,
                "POST /welfare-deciles": MINISTRY,
                "GET /households": REGENCY,
                "GET /households/{household_id}": REGENCY,
                "GET /people/{nik}": REGENCY,
                "GET /stats": REGENCY,
                "GET /candidates/{proposal_id}": MINISTRY,
            },
            public=frozenset(
                {
                    "GET /healthz",
                    "GET /readyz",
                    "GET /public/registration-status",
                    # The masked proof for the citizens' check and the Ministry's published decree keys
                    # are for anyone, by design (#20).
                    "GET /public/registration-proof",
                    "GET /.well-known/dtks-decree-keys",
                }
            ),
            written_tables=(
                "determinations",
                "household_changes",
                "households",
                "members",
                "welfare_deciles",
            ),
        ),
        Target(
            name="notification",
            build=_notification,
            callers={
                "GET /inbox": VILLAGE,
                "POST /inbox/{notification_id}/read": VILLAGE,
                "PUT /directory": MINISTRY,
                "GET /dead-letters": MINISTRY,
                "POST /dead-letters/{delivery_id}/replay": MINISTRY,
            }
            | {
                label: AGENCY
                for label in (
                    "GET /subscriptions",
                    "POST /subscriptions",
                    "GET /subscriptions/{subscription_id}",
                    "DELETE /subscriptions/{subscription_id}",
                    "GET /subscriptions/{subscription_id}/deliveries",
                )
            },
            public=frozenset({"GET /healthz", "GET /readyz"}),
            written_tables=("directory", "subscriptions", "inbox_reads", "deliveries"),
        ),
        Target(
            name="civil_registry",
            build=_civil_registry,
            callers={},
            # An outside agency's simulator on loopback: no tokens at all.
            public=frozenset(
                {
                    "GET /people/{nik}",
                    "POST /people/lookup",
                    "GET /families/{kk_number}",
                    "POST /families/lookup",
                    "POST /people",
                    "GET /healthz",
                    "GET /admin/outage",
                    "POST /admin/outage",
                    "DELETE /admin/outage",
                }
            ),
            written_tables=("people",),
            has_event_store=False,
            after_call=_end_outage,
        ),
    )
}


@dataclass(frozen=True)
class _NoInfra:
    kafka_bootstrap: str = "127.0.0.1:9"
    database_url: str = "postgresql://unused@127.0.0.1:9/unused"


def _offline_schema(target: Target) -> schemathesis.BaseSchema:
    """The operations, read from an app built with throwaway settings (nothing is started)."""
    app = target.build(_NoInfra(), "unused", "unused.")
    return schemathesis.openapi.from_dict(app.openapi())


def _can_be_invalid(operation: Any) -> bool:
    """Whether a negative example exists: a body, a query or header parameter, or a constrained path part.

    A path of plain strings and no body cannot be sent invalid; hypothesis would only prove that
    (Unsatisfiable) after hundreds of tries.
    """
    definition = operation.definition.raw
    if "requestBody" in definition:
        return True
    for parameter in definition.get("parameters", []):
        schema = parameter.get("schema", {})
        if (
            parameter["in"] != "path"
            or set(schema) - {"type", "title", "description"}
            or schema.get("type") != "string"
        ):
            return True
    return False


def _operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    operations = []
    for result in schema.get_all_operations():
        # An operation schemathesis cannot read is a broken OpenAPI document: fail at collection.
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    return operations


SCHEMAS = {name: _offline_schema(target) for name, target in TARGETS.items()}
OPERATIONS = [
    pytest.param(name, op.label, mode, id=f"{name}:{op.label}:{mode.value}")
    for name, schema in SCHEMAS.items()
    for op in _operations(schema)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _can_be_invalid(op)
]


# Inputs the fuzzer once found to fail, sent first (positive run) so they stay fixed whatever the
# seed: operation label -> (the request's parts, expected status, expected problem code).
KNOWN_BAD: dict[str, list[tuple[dict[str, Any], int, str]]] = {
    # A region code that is not one reached ensure_in_scope's region parser: ValueError, 500.
    "POST /imports": [
        (
            {"body": {"file": b"nik,name\n", "village_code": "email"}, "media_type": "multipart/form-data"},
            422,
            "invalid_region",
        )
    ],
    # An age too large for a time span: OverflowError, 500.
    "GET /queues/stats": [({"query": {"older_than_hours": 1e300}}, 422, "invalid_request")],
    # A NUL character, which PostgreSQL text cannot hold (once CharacterNotInRepertoireError, 500):
    # refused by the contracts' checked text as an invalid field, before anything reaches the database.
    "POST /subscriptions": [
        (
            {
                "body": {
                    "callback_url": "https://1.1.1.1/dtks",
                    "secret": "sixteen-chars-\u0000-secret",
                }
            },
            422,
            "invalid_request",
        )
    ],
    # A JSON true taken as one second of outage.
    "POST /admin/outage": [({"body": {"until_seconds": True}}, 422, "invalid_request")],
}

# Accepted writes, sent first (positive run): each must change what `Served.written` sees, which
# shows that the "a rejection wrote nothing" comparison would notice a write.
KNOWN_WRITES: dict[str, list[dict[str, Any]]] = {
    "PUT /windows/{regency_code}": [{"path_parameters": {"regency_code": "17.71"}, "body": {"open": True}}],
    # A public address: callbacks to internal ones are refused (nothing is sent, the sender is off).
    "POST /subscriptions": [
        {"body": {"callback_url": "https://1.1.1.1/dtks", "secret": "a-secret-of-sixteen-or-more"}}
    ],
}


# --- a service on a real port ----------------------------------------------------------------------


class Served:
    """One service app served by uvicorn in its own thread and event loop, lifespan included."""

    def __init__(self, target: Target, app: FastAPI) -> None:
        self.target, self.app = target, app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name=f"fuzz-{target.name}", daemon=True)
        self.session = requests.Session()

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self.sock])

        asyncio.run(serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            assert self.thread.is_alive(), f"{self.target.name} did not start (see the log above)"
            assert time.monotonic() < deadline, f"{self.target.name} did not start in 120 s"
            time.sleep(0.05)

    def stop(self) -> None:
        self.session.close()
        self.server.should_exit = True
        self.thread.join(90)
        self.sock.close()

    def _pool(self) -> asyncpg.Pool:
        runtime = getattr(self.app.state, "runtime", None)
        pool: asyncpg.Pool = runtime.pool if runtime is not None else self.app.state.pool
        return pool

    def written(self) -> tuple[Any, ...]:
        """What a rejected request must not change: events appended and the routes' tables' contents."""
        parts = []
        if self.target.has_event_store:
            parts.append("(SELECT count(*) || '/' || coalesce(max(seq), 0) FROM events)")
        for table in self.target.written_tables:
            parts.append(
                f"(SELECT count(*) || '/' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t)"
            )
        sql = "SELECT " + ", ".join(parts)

        async def fetch() -> tuple[Any, ...]:
            async with self._pool().acquire() as conn:
                return tuple(await conn.fetchrow(sql))

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fetch(), self.loop).result(30)

    def events_correlated(self, correlation_ids: list[str]) -> list[str]:
        """Event types in the store whose envelope carries one of these correlation ids."""

        async def fetch() -> list[str]:
            async with self._pool().acquire() as conn:
                rows = await conn.fetch(
                    "SELECT event_type FROM events WHERE envelope->>'correlation_id' = ANY($1::text[])",
                    correlation_ids,
                )
            return [r["event_type"] for r in rows]

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fetch(), self.loop).result(30)


@dataclass
class Fleet:
    """Starts each service on first use, one at a time (the machine is small), drops its database after."""

    infra: Infra
    running: dict[str, Served] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)  # service -> correlation ids of 4xx calls
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # service -> answers by status
    health: dict[str, dict[str, Any]] = field(default_factory=dict)  # service -> /healthz after its run

    # service -> event types in its store correlated with one of its rejected calls (must be none)
    leaked: dict[str, list[str]] = field(default_factory=dict)

    def _retire(self, name: str) -> None:
        served = self.running.pop(name)
        # Still healthy after the fuzz run: no background task (relay, consumers, workers) died.
        self.health[name] = requests.get(f"{served.url}/healthz", timeout=30).json()
        if served.target.has_event_store:
            self.leaked[name] = served.events_correlated(self.rejected.get(name, []))
        served.stop()

    def retire_all(self) -> None:
        for name in list(self.running):
            self._retire(name)

    def get(self, name: str) -> Served:
        if name not in self.running:
            for other in list(self.running):
                self._retire(other)
            target = TARGETS[name]
            database = f"fuzz_{name}_{uuid.uuid4().hex[:8]}"
            self.databases.append(database)
            served = Served(target, target.build(self.infra, database, f"fz{uuid.uuid4().hex[:10]}."))
            served.start()
            self.running[name] = served
        return self.running[name]

    def close(self) -> None:
        self.retire_all()

        async def drop() -> None:
            admin = await asyncpg.connect(self.infra.database_url)
            try:
                for database in self.databases:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop())


@pytest.fixture(scope="module")
def fleet(infra: Infra) -> Iterator[Fleet]:
    fleet = Fleet(infra)
    try:
        yield fleet
    finally:
        fleet.close()


# --- what every answer must be ---------------------------------------------------------------------


def assert_acceptable(response: schemathesis.Response, what: str) -> None:
    """No server error; a rejection is a problem document a client can act on."""
    body = response.text[:600]
    assert response.status_code < 500, f"{what}: server error {response.status_code}: {body}"
    if response.status_code < 400:
        return
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    assert media_type == PROBLEM_JSON, (
        f"{what}: {response.status_code} as {media_type!r}, not a problem: {body}"
    )
    doc = response.json()
    missing = [m for m in PROBLEM_MEMBERS if not doc.get(m)]
    assert not missing, f"{what}: problem document without {missing}: {body}"
    assert doc["status"] == response.status_code, (
        f"{what}: status {doc['status']} in a {response.status_code}"
    )


def send(served: Served, case: schemathesis.Case, auth: str | None) -> tuple[schemathesis.Response, str]:
    correlation_id = f"fuzz-{uuid.uuid4()}"
    if case.headers:
        for name in [n for n in case.headers if n.lower() == "authorization"]:
            del case.headers[name]
    headers = {"X-Correlation-Id": correlation_id}
    if auth is not None:
        headers["Authorization"] = auth
    response = case.call(base_url=served.url, session=served.session, headers=headers, timeout=60)
    return response, correlation_id


def call_once(
    fleet: Fleet, served: Served, case: schemathesis.Case, label: str, kind: str, who: Who
) -> schemathesis.Response:
    """One call, checked: the answer's shape, and that a rejection left the service unchanged."""
    before = served.written()
    response, correlation_id = send(served, case, authorization(kind, who))
    fleet.statuses.setdefault(served.target.name, Counter())[response.status_code] += 1
    if 400 <= response.status_code < 500:
        after = served.written()
        fleet.rejected.setdefault(served.target.name, []).append(correlation_id)
        assert after == before, (
            f"{label} as {kind}: answered {response.status_code} but wrote: {before} -> {after}; "
            f"{response.text[:300]}"
        )
    if served.target.after_call is not None:
        served.target.after_call(label, served.url)
    assert_acceptable(response, f"{label} as {kind} ({case.method} {case.formatted_path})")
    return response


@pytest.mark.parametrize(("service", "label", "mode"), OPERATIONS)
def test_fuzzed_requests_are_answered_or_refused_cleanly(
    fleet: Fleet, service: str, label: str, mode: GenerationMode
) -> None:
    target = TARGETS[service]
    served = fleet.get(service)
    operation = SCHEMAS[service].find_operation_by_label(label)
    assert operation is not None
    who = target.caller(label)
    protected = label not in target.public

    if mode is GenerationMode.POSITIVE:
        for parts, status, code in KNOWN_BAD.get(label, []):
            response = call_once(fleet, served, operation.Case(**parts), label, "valid", who)
            assert (response.status_code, response.json().get("code")) == (status, code), response.text
        for parts in KNOWN_WRITES.get(label, []):
            before = served.written()
            response = call_once(fleet, served, operation.Case(**parts), label, "valid", who)
            assert 200 <= response.status_code < 300, response.text
            assert served.written() != before, f"{label} was accepted but the fingerprint did not change"

    # The token is fixed here, not only replaced when sending: otherwise schemathesis counts a
    # mangled Authorization header as the example's invalid part and expects it refused.
    strategy = operation.as_strategy(
        generation_mode=mode, headers={"Authorization": authorization("valid", who)}
    )

    # Hypothesis: derandomized (the seed is the test's own), no example database, no deadline.
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=strategy, intruder=st.sampled_from(UNAUTHORIZED))
    def fuzz(case: schemathesis.Case, intruder: str) -> None:
        response = call_once(fleet, served, case, label, "valid", who)
        case.validate_response(response, checks=[negative_data_rejection])
        if protected:
            refused = call_once(fleet, served, case, label, intruder, who)
            if intruder != "wrong role":
                assert refused.status_code >= 400, f"{label} answered {refused.status_code} {intruder}"

    try:
        fuzz()
    except hypothesis.errors.Unsatisfiable:
        # Nothing in this operation's schema can be made invalid on the wire (no body, and only
        # unconstrained strings in the path): the positive run covers it.
        assert mode is GenerationMode.NEGATIVE
        pytest.skip(f"{label} has no part that can be generated invalid")


def test_no_event_carries_a_rejected_request(fleet: Fleet) -> None:
    """Checked at the end too, for writes that come later than the answer: the services record the
    caller's correlation id in the events a request causes (the proposal service does), and no
    event may carry a refused call's."""
    if not fleet.rejected.get("proposal"):
        pytest.skip("the proposal service was not fuzzed in this run")
    fleet.retire_all()
    assert fleet.leaked, "no event store was checked"
    assert all(types == [] for types in fleet.leaked.values()), fleet.leaked


def test_the_fuzz_run_was_accepted_and_refused_by_every_service(fleet: Fleet) -> None:
    """Every service is still healthy, and both accepted and refused calls: a run where nothing got
    through (or nothing was refused) would prove little."""
    if set(fleet.statuses) != set(TARGETS):
        pytest.skip("not every service was fuzzed in this run")
    fleet.retire_all()
    for name, health in fleet.health.items():
        assert health.get("status") == "ok", f"{name} is not healthy after the fuzz run: {health}"
    for name, statuses in fleet.statuses.items():
        print(f"{name}: {dict(sorted(statuses.items()))}")
        assert any(200 <= s < 300 for s in statuses), f"{name} accepted nothing: {statuses}"
        assert any(400 <= s < 500 for s in statuses), f"{name} refused nothing: {statuses}"
