"""The verification service under test: the civil-registry simulator served over real HTTP and
loaded with a synthetic population, and the service on the real broker and database. Used by the
tests and the benchmark (it imports the simulator and the generator lazily from deploy/)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.vocabulary import Role
from dtks_runtime.auth import TokenService
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import Population, generate_population, proposals, register_households
from dtks_verification.main import build_app
from dtks_verification.settings import VerificationSettings
from dtks_verification.testing import envelope, http_server, publish, submitted

# The population the tests share: small enough to load in a second, large enough for every fault.
POPULATION = generate_population("17.71", people=3000, seed=11)


def simulator_app(infra: Infra) -> Any:
    """The civil-registry simulator's app (deploy/civil_registry), with its own fresh database."""
    from dtks_civil_registry.main import build_app as build_simulator
    from dtks_civil_registry.settings import CivilRegistrySettings

    settings = CivilRegistrySettings(
        database_url=infra.database_url, database_name=f"civil_{uuid.uuid4().hex[:10]}", log_level="warning"
    )
    return build_simulator(settings)


async def load_people(url: str, population: Population) -> None:
    records = [r.to_json() for r in population.civil_registry_records()]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for start in range(0, len(records), 2000):
            response = await http.post("/people", json={"people": records[start : start + 2000]})
            response.raise_for_status()


@dataclass
class Simulator:
    app: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serving(self) -> contextlib.AbstractAsyncContextManager[str]:
        return http_server(self.app, self.port)

    async def outage(self, on: bool) -> None:
        """The simulator's fault switch: every look-up answers 503 while it is on."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            if on:
                response = await http.post("/admin/outage", json={"until_seconds": 3600})
            else:
                response = await http.delete("/admin/outage")
            response.raise_for_status()


class CountingProxy:
    """A small HTTP app in front of the civil-registry simulator: forwards every request to it and
    counts them (by method and path), so a test can bound how many requests the service makes."""

    def __init__(self, target_url: str) -> None:
        self.target_url = target_url
        self.requests: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
        async def forward(path: str, request: Request) -> Response:
            self.requests[f"{request.method} /{path}"] += 1
            async with httpx.AsyncClient(base_url=self.target_url, timeout=30) as http:
                answer = await http.request(
                    request.method,
                    f"/{path}",
                    content=await request.body(),
                    headers={"content-type": request.headers.get("content-type", "application/json")},
                )
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        return app


@dataclass
class Service:
    http: httpx.AsyncClient
    settings: VerificationSettings
    tokens: TokenService
    kafka_bootstrap: str
    app: FastAPI | None = None  # the service's app, for its state (worker, intake counters)

    def auth(self, role: Role, region: str) -> dict[str, str]:
        token = self.tokens.issue(subject=f"{role.value}@{region}", role=role, region=region)
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, envelopes: list[EventEnvelope]) -> None:
        await publish(self.kafka_bootstrap, self.settings.topic_prefix, envelopes)

    async def standing(self, proposal_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"/proposals/{proposal_id}/verification", headers=self.auth(Role.AUDITOR, "ID")
        )
        return response.json() if response.status_code == 200 else {"status": None}

    async def wait_status(self, proposal_id: str, *statuses: str, within: float = 60) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def reached() -> bool:
            seen.update(await self.standing(proposal_id))
            return seen.get("status") in statuses

        await wait_until(reached, within, f"proposal {proposal_id} to be {statuses}")
        return seen


@contextlib.asynccontextmanager
async def running_service(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry_url: str, **overrides: Any
) -> AsyncIterator[Service]:
    settings = VerificationSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=infra.database_url,
        database_name=f"verification_{uuid.uuid4().hex[:10]}",
        topic_prefix=topic_prefix,
        civil_registry_url=civil_registry_url,
        check_poll_seconds=0.05,
        breaker_open_seconds=0.5,
        civil_registry_retries=1,
        civil_registry_backoff_seconds=0.02,
        **overrides,
    )
    app = build_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://verification") as http,
    ):
        yield Service(
            http, settings, TokenService(settings.jwt_secret, settings.jwt_issuer), kafka_bootstrap, app
        )


class Clock:
    """A clock a test sets: the service's handlers read "now" from it (see `use_clock`)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def use_clock(service: Service, clock: Clock) -> None:
    """The running service's handlers read "now" from `clock` (its deps object, with this clock)."""
    assert service.app is not None
    service.app.state.deps = dataclasses.replace(service.app.state.deps, clock=clock)


async def in_district_queue(service: Service, count: int, seed: int) -> list[Any]:
    """`count` clean proposals submitted, once they wait at the district tier."""
    contents = [submitted(g.body) for g in proposals(POPULATION, count, seed=seed)]
    await service.publish([envelope(c) for c in contents])
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    return contents


def registered_events(population: Population, limit: int | None = None) -> list[EventEnvelope]:
    """The register as the registry would announce it: household_registered per household."""
    out = []
    for household in register_households(population):
        assert household.household_id is not None
        payload = HouseholdRegistered(
            household_id=household.household_id,
            decree_number="146/HUK/2026",
            household=household,
            proposal_id=f"seed-{household.household_id}",
        )
        out.append(EventEnvelope.new(payload, aggregate_version=1, actor=None))
        if limit is not None and len(out) >= limit:
            break
    return out
