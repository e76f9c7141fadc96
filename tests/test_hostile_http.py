"""Hostile input at the HTTP edge, against the four services and the civil-registry simulator, each as
its own process (as ``make run`` starts them).

- Oversized bodies for every POST, PUT and PATCH operation of every OpenAPI document: 50 MB with a
  declared length, without a token and with one, and the same without a length (chunked) with a
  token. A protected operation answers 401 before reading the body, any other 413 (or, for an
  operation without a body, its own 4xx); always a problem document with the correlation id, never a
  5xx; and each service's memory (RSS of its processes, sampled throughout) stays within
  ``MEMORY_GROWTH_MB`` of where it started. Before the runtime's body limits, the same 50 MB took a
  service from about 75 MB to 1.3 GB and the simulator past 4 GB.
- Forwarded-header games (X-Forwarded-For, Forwarded, X-Real-IP and their kin, a fresh address each
  call) do not give a fresh allowance of the citizens' check, and two registry processes on one
  port (DTKS_WORKERS=2) share one allowance per address.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
SERVICES = ("proposal", "verification", "registry", "notification", "civil-registry")
BODY_BYTES = 50 * 10**6
# The bulk import's file limit in this system, below BODY_BYTES so that its upload route is refused
# too (its default, 256 MiB, is tried by nobody's test).
IMPORT_MAX_BYTES = 8 * 1024 * 1024
MEMORY_GROWTH_MB = 100
CHECK_BURST = 3
PROBLEM_JSON = "application/problem+json"
ANY_ID = "00000000-0000-4000-8000-000000000000"
PATH_VALUES = {"sha256": "0" * 64}


class MemoryWatch:
    """Samples the RSS of each service's processes (the pid and its children) in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.start = {name: self._rss(p) for name, p in self.processes.items()}
        self.peak = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _rss(process: psutil.Process) -> int:
        total = 0
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just ended
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for name, process in self.processes.items():
                self.peak[name] = max(self.peak[name], self._rss(process))

    def growth_mb(self) -> dict[str, float]:
        return {name: round((self.peak[name] - self.start[name]) / 2**20, 1) for name in self.processes}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Hostile:
    system: LocalSystem
    memory: MemoryWatch
    tries: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def hostile(infra: Infra) -> Iterator[Hostile]:
    system = prepare(infra, SERVICES_SCRIPT, label="hx")
    system.env |= {
        "DTKS_IMPORT_MAX_BYTES": str(IMPORT_MAX_BYTES),
        "DTKS_REGISTRY_PUBLIC_CHECK_BURST": str(CHECK_BURST),
        "DTKS_REGISTRY_PUBLIC_CHECK_PER_MINUTE": "1",
    }
    try:
        system.command("start")
        pids = {name: system.pid(name) for name in SERVICES}
        memory = MemoryWatch({name: pid for name, pid in pids.items() if pid is not None})
        try:
            yield Hostile(system, memory)
        finally:
            memory.stop()
    finally:
        system.command("stop")


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str  # the template, e.g. /proposals/{proposal_id}/resubmissions
    protected: bool  # needs a bearer token (its OpenAPI security)
    content_type: str | None  # of its request body (None: it takes none)

    @property
    def has_body(self) -> bool:
        return self.content_type is not None

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def url(self, base: str) -> str:
        # A well-formed value for each path parameter, so that what answers is the body's size and
        # not the parameter's format (a photo's address is its SHA-256: 64 hex digits).
        return base + re.sub(r"\{([^}]+)\}", lambda m: PATH_VALUES.get(m.group(1), ANY_ID), self.path)


def writing_operations(system: LocalSystem) -> list[Operation]:
    found = []
    for service in SERVICES:
        document = httpx.get(f"{system.urls[service]}/openapi.json", timeout=30).json()
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method in ("post", "put", "patch"):
                    found.append(
                        Operation(
                            service,
                            method.upper(),
                            path,
                            protected=bool(operation.get("security")),
                            content_type=_content_type(operation.get("requestBody")),
                        )
                    )
    return found


def _content_type(request_body: dict[str, Any] | None) -> str | None:
    """What the operation reads: JSON, or a multipart form (an upload), sent as it expects."""
    if request_body is None:
        return None
    kinds = request_body["content"]
    if "multipart/form-data" in kinds:
        return f"multipart/form-data; boundary={BOUNDARY}"
    return next(iter(kinds))


def assert_problem(response: httpx.Response, allowed: set[int], label: str) -> None:
    assert response.status_code in allowed, f"{label}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == PROBLEM_JSON, label
    problem = response.json()
    assert problem["status"] == response.status_code and problem["code"], label
    assert problem["correlation_id"] == response.headers["x-correlation-id"], label


BOUNDARY = "hostile"


def oversized(op: Operation, size: int = 1024 * 1024) -> Iterator[bytes]:
    """BODY_BYTES of what the operation reads, in chunks: a JSON document of blanks, or a multipart
    form whose one file is blanks (so the parser reads on until the limit, as for a real upload)."""
    head, tail = b"{", b"}"
    if op.content_type and op.content_type.startswith("multipart/"):
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    yield head
    block = b" " * size
    left = BODY_BYTES - len(head) - len(tail)
    while left > 0:
        yield block[:left]
        left -= size
    yield tail


def test_oversized_bodies_on_every_writing_route_are_refused_with_problems_and_memory_stays_bounded(
    hostile: Hostile,
) -> None:
    system = hostile.system
    operations = writing_operations(system)
    # Every service has some, and the routes with larger limits of their own are among them.
    assert {o.service for o in operations} == set(SERVICES)
    labels = {o.label for o in operations}
    for declared in ("POST /imports", "POST /proposals/batch", "POST /welfare-deciles", "POST /people"):
        assert any(label.endswith(declared) for label in labels), declared
    token = system.headers(Role.AUDITOR, "ID")  # any valid token: the size is checked before the role
    with httpx.Client(timeout=120) as client:
        for op in operations:
            url = op.url(system.urls[op.service])
            sent = {"content-type": op.content_type or "application/json"}
            # Without a body to read, an operation answers as it would anyway: its own 4xx.
            refused = {413} if op.has_body else {400, 401, 403, 404, 405, 409, 422}
            body = b"".join(oversized(op))
            anonymous = client.request(op.method, url, content=body, headers=sent)
            assert_problem(anonymous, {401} if op.protected else refused, f"{op.label} without a token")
            if op.protected and op.has_body:
                assert anonymous.headers["www-authenticate"].startswith("Bearer")
            declared = client.request(op.method, url, content=body, headers=sent | token)
            assert_problem(declared, refused, f"{op.label} with a token")
            streamed = client.request(op.method, url, content=oversized(op), headers=sent | token)
            assert_problem(streamed, refused, f"{op.label} chunked, with a token")
            hostile.tries += [op.label] * 3
    growth = hostile.memory.growth_mb()
    print(
        f"\n{len(hostile.tries)} oversized requests on {len(operations)} operations; RSS growth MB: {growth}"
    )
    for name, grown in growth.items():
        assert grown < MEMORY_GROWTH_MB, f"{name} grew {grown} MB under oversized bodies"
    for name in SERVICES:  # nobody died on the way
        pid = system.pid(name)
        assert pid is not None and psutil.pid_exists(pid), name


FORWARDED_GAMES = [
    {"X-Forwarded-For": "203.0.113.{n}"},
    {"X-Forwarded-For": "203.0.113.{n}, 127.0.0.1"},
    {"X-Forwarded-For": "127.0.0.1, 203.0.113.{n}"},
    {"Forwarded": "for=203.0.113.{n};proto=https"},
    {"Forwarded": 'for="[2001:db8::{n}]"'},
    {"X-Real-IP": "203.0.113.{n}"},
    {"X-Client-IP": "203.0.113.{n}"},
    {"True-Client-IP": "203.0.113.{n}"},
    {"CF-Connecting-IP": "203.0.113.{n}"},
    {"X-Forwarded-For": "203.0.113.{n}", "X-Real-IP": "198.51.100.{n}", "Forwarded": "for=192.0.2.{n}"},
]


def _check(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> int:
    params = {"nik": "1771010101900001", "name": "Siti Aminah"}
    return client.get(url, params=params, headers=headers or {}).status_code


def test_forwarded_header_games_do_not_reset_the_citizens_check_limit(hostile: Hostile) -> None:
    url = f"{hostile.system.urls['registry']}/public/registration-status"
    with httpx.Client(timeout=30) as client:
        assert [_check(client, url) for _ in range(CHECK_BURST)] == [200] * CHECK_BURST
        assert _check(client, url) == 429
        answers = {}
        for n, game in enumerate(FORWARDED_GAMES, start=10):
            headers = {k: v.format(n=n) for k, v in game.items()}
            answers[str(headers)] = _check(client, url, headers)
            hostile.tries.append(f"citizens' check with {headers}")
    assert set(answers.values()) == {429}, answers


def test_two_registry_processes_share_one_allowance_per_address(infra: Infra) -> None:
    system = prepare(infra, SERVICES_SCRIPT, label="hy")
    system.env |= {
        "DTKS_WORKERS": "2",
        "DTKS_REGISTRY_PUBLIC_CHECK_BURST": str(CHECK_BURST),
        "DTKS_REGISTRY_PUBLIC_CHECK_PER_MINUTE": "1",
    }
    try:
        system.command("start", only=("registry",))
        pid = system.pid("registry")
        assert pid is not None
        workers = [p for p in psutil.Process(pid).children(recursive=True) if "python" in p.name().lower()]
        assert len(workers) >= 2, workers
        url = f"{system.urls['registry']}/public/registration-status"
        answers: list[int] = []

        def one_client() -> None:
            # A connection of its own each time, so the kernel spreads them over both processes.
            with httpx.Client(timeout=30) as client:
                for _ in range(4):
                    answers.append(_check(client, url, {"connection": "close"}))

        threads = [threading.Thread(target=one_client) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers).count(200) == CHECK_BURST and len(answers) == 24, answers
        assert set(answers) == {200, 429}
    finally:
        system.command("stop")
