"""The civil-registry (Dukcapil) port: look people up by NIK and families by KK number over HTTP.

The HTTP API (the simulator under deploy/civil_registry answers the same):
- ``GET /people/{nik}`` -> 200 a person, 404 unknown NIK;
- ``GET /families/{kk_number}`` -> 200 the family card with its members, 404 unknown card;
- ``POST /families/lookup {"kk_numbers": [...]}`` and ``POST /people/lookup {"niks": [...]}`` ->
  what was found and what is ``missing``: the batch forms. The checks use the NIK form only (a
  check compares each member's own record), so a batch of proposals costs one request.
A person has ``nik, name, birth_date, sex, kk_number, village_code`` and whether they are alive.

Failures are contained here: each request has a timeout and is retried with exponential backoff on
transport errors, 5xx and 429; consecutive failures open a circuit breaker, which fails further
look-ups at once (no waiting on a dead service) until a probe after `open_seconds` succeeds. The
caller gets `CivilRegistryUnavailable` and queues the check: an outage delays proposals, it never
fails them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import httpx

from dtks_contracts.vocabulary import Sex
from dtks_runtime.telemetry import get_logger
from dtks_verification.domain.integrity import CivilPerson

log = get_logger(__name__)


class CivilRegistryUnavailable(Exception):
    """The civil registry did not answer (down, timing out, or the circuit is open)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `open_seconds` lets calls probe."""

    def __init__(
        self, failure_threshold: int, open_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.open_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self) -> bool:
        return self.state is not BreakerState.OPEN

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._failures += 1
        # A failed probe (half-open) opens the circuit again at once.
        if self._failures >= self.failure_threshold or self._opened_at is not None:
            if self._opened_at is None:
                log.warning("civil registry circuit opened", failures=self._failures)
            self._opened_at = self._clock()


def _alive(raw: Mapping[str, Any]) -> bool:
    # Accept the usual spellings of "is this person alive" so the port does not depend on one field.
    if "alive" in raw:
        return bool(raw["alive"])
    if "deceased" in raw:
        return not raw["deceased"]
    return raw.get("died_on") is None and raw.get("date_of_death") is None


def parse_person(raw: Mapping[str, Any]) -> CivilPerson:
    return CivilPerson(
        nik=str(raw["nik"]),
        name=str(raw["name"]),
        birth_date=dt.date.fromisoformat(str(raw["birth_date"])),
        sex=Sex(raw["sex"]),
        kk_number=str(raw["kk_number"]),
        # A person who moved lives where they moved to; the card's old village is history.
        village_code=raw.get("moved_to") or raw.get("village_code"),
        alive=_alive(raw),
    )


def _family_members(raw: Any) -> list[Mapping[str, Any]]:
    if isinstance(raw, list):
        return raw
    for key in ("members", "people"):
        if isinstance(raw.get(key), list):
            return list(raw[key])
    raise ValueError("a family answer without its members")


class CivilRegistryClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 3.0,
        retries: int = 2,
        backoff_seconds: float = 0.1,
        max_connections: int = 32,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.breaker = breaker or CircuitBreaker(5, 5.0)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str) -> Any | None:
        return await self._request("GET", path)

    async def _request(
        self, method: str, path: str, body: Any = None, retries: int | None = None
    ) -> Any | None:
        """JSON of a 200, None for a 404; raises CivilRegistryUnavailable when it cannot tell."""
        if not self.breaker.allows():
            raise CivilRegistryUnavailable("the civil registry circuit is open after repeated failures")
        error = "no attempt"
        for attempt in range((self.retries if retries is None else retries) + 1):
            if attempt:
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 404:
                self.breaker.record_success()
                return None
            if response.status_code == 200:
                self.breaker.record_success()
                return response.json()
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # our request is wrong; retrying will not help
        self.breaker.record_failure()
        raise CivilRegistryUnavailable(f"{method} {path} failed: {error}")

    async def person(self, nik: str) -> CivilPerson | None:
        raw = await self._get(f"/people/{nik}")
        return None if raw is None else parse_person(raw)

    async def family(self, kk_number: str) -> list[CivilPerson] | None:
        raw = await self._get(f"/families/{kk_number}")
        return None if raw is None else [parse_person(p) for p in _family_members(raw)]

    async def people(self, kk_number: str | None, niks: Iterable[str]) -> dict[str, CivilPerson | None]:
        """The records of `niks`: one family look-up covers the usual case, single look-ups the rest
        (people registered on another card, unknown NIKs)."""
        wanted = list(dict.fromkeys(niks))
        found: dict[str, CivilPerson | None] = {}
        if kk_number is not None and wanted:
            for person in await self.family(kk_number) or ():
                if person.nik in wanted:
                    found[person.nik] = person
        missing = [nik for nik in wanted if nik not in found]
        singles = await asyncio.gather(*(self.person(n) for n in missing))
        found.update(zip(missing, singles, strict=True))
        return found

    async def people_by_nik(
        self, niks: Iterable[str], *, retries: int | None = None, chunk: int = 10_000
    ) -> dict[str, CivilPerson | None]:
        """The records of `niks` (None: unknown to the registry) through the batch look-up: one
        request per `chunk` distinct NIKs, so a batch of proposals costs one request, not one or
        more per proposal. `retries` overrides the client's own (0: a single attempt)."""
        wanted = list(dict.fromkeys(niks))
        found: dict[str, CivilPerson | None] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), chunk):
            raw = await self._request(
                "POST", "/people/lookup", {"niks": wanted[start : start + chunk]}, retries
            )
            for person in (raw or {}).get("people", ()):
                parsed = parse_person(person)
                if parsed.nik in found:
                    found[parsed.nik] = parsed
        return found

    async def people_of_many(
        self, wanted: Sequence[Sequence[str]], *, retries: int | None = None
    ) -> list[dict[str, CivilPerson | None]]:
        """`people_by_nik` for many proposals at once (their NIKs each), in one look-up."""
        found = await self.people_by_nik((nik for group in wanted for nik in group), retries=retries)
        return [{nik: found[nik] for nik in group} for group in wanted]
