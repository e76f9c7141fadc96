"""The HTTP edge every service shares: body limits while reading, the token before the body, correlation
ids on every answer, one structured log record per unexpected error, forwarded headers only from
configured proxies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.deps import require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.body_limits import BodyLimits, MiB
from dtks_runtime.http_edge import install_http_edge
from dtks_runtime.problems import PROBLEM_JSON, install_problem_handlers

SECRET = "test-secret-of-at-least-thirty-two-bytes"
tokens = TokenService(SECRET)
EDGE_APP = Path(__file__).with_name("edge_app.py")


class Items(BaseModel):
    items: list[Any]


def build_app(default: int = 64 * 1024) -> tuple[FastAPI, list[str]]:
    """An app with the edge installed; the returned list records each route that ran."""
    app = FastAPI()
    app.state.tokens = tokens
    ran: list[str] = []
    install_problem_handlers(app)
    install_http_edge(app, limits=BodyLimits(default, {"POST /big": 4 * MiB}), tokens=tokens)

    @app.post("/small")
    async def small(body: Items) -> dict[str, int]:
        ran.append("small")
        return {"items": len(body.items)}

    @app.post("/big")
    async def big(body: Items) -> dict[str, int]:
        ran.append("big")
        return {"items": len(body.items)}

    @app.post("/guarded")
    async def guarded(
        body: Items, principal: Annotated[Principal, Depends(require_role(Role.AUDITOR))]
    ) -> dict[str, int]:
        ran.append("guarded")
        return {"items": len(body.items)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug of ours")

    return app, ran


@dataclass
class Exchange:
    """One request driven through the app's ASGI interface, counting the body bytes it pulled."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pulled: int = 0  # body bytes the app asked for (receive), of those the client had to send

    def json(self) -> Any:
        return json.loads(self.body)


async def drive(
    app: FastAPI, method: str, path: str, chunks: Sequence[bytes], headers: dict[str, str]
) -> Exchange:
    exchange = Exchange()
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        exchange.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            exchange.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return exchange


def json_chunks(total: int, chunk: int = 64 * 1024) -> list[bytes]:
    """A JSON document of ``total`` bytes ({"items": [0, 0, ...]}) in chunks of ``chunk`` bytes."""
    head, tail = b'{"items": [0', b"]}"
    body = head + b",0" * ((total - len(head) - len(tail)) // 2) + tail
    return [body[i : i + chunk] for i in range(0, len(body), chunk)]


def sized(chunks: list[bytes]) -> dict[str, str]:
    return {"content-type": "application/json", "content-length": str(sum(map(len, chunks)))}


def auditor() -> dict[str, str]:
    return {"authorization": f"Bearer {tokens.issue(subject='a', role=Role.AUDITOR, region='ID')}"}


async def test_a_body_declared_larger_than_the_routes_limit_is_refused_413_without_reading_it() -> None:
    app, ran = build_app()
    chunks = json_chunks(10 * MiB)
    answer = await drive(app, "POST", "/small", chunks, sized(chunks))
    assert answer.status == 413 and answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["code"] == "body_too_large" and problem["max_bytes"] == 64 * 1024
    assert answer.pulled == 0 and ran == []


async def test_a_chunked_body_is_counted_while_it_is_read_and_refused_once_past_the_limit() -> None:
    app, ran = build_app()
    chunks = json_chunks(10 * MiB)
    answer = await drive(app, "POST", "/small", chunks, {"content-type": "application/json"})
    assert answer.status == 413 and answer.json()["code"] == "body_too_large"
    assert answer.pulled <= 64 * 1024 + 64 * 1024  # the limit and at most the chunk that passed it
    assert ran == []


async def test_a_route_declares_a_larger_limit_of_its_own_and_others_keep_the_default() -> None:
    app, ran = build_app()
    chunks = json_chunks(1 * MiB)
    assert (await drive(app, "POST", "/big", chunks, sized(chunks))).status == 200
    assert (await drive(app, "POST", "/small", chunks, sized(chunks))).status == 413
    assert ran == ["big"]


async def test_a_route_that_needs_a_token_refuses_a_request_without_one_before_reading_a_byte() -> None:
    app, ran = build_app()
    chunks = json_chunks(10 * MiB)
    none = await drive(app, "POST", "/guarded", chunks, sized(chunks))
    assert none.status == 401 and none.pulled == 0
    assert none.json()["code"] == "unauthenticated"
    # RFC 6750: the challenge names the scheme; without any token it names no error.
    assert none.headers["www-authenticate"] == 'Bearer realm="dtks"'
    forged = TokenService("another-secret-of-at-least-thirty-two-bytes").issue(
        subject="x", role=Role.AUDITOR, region="ID"
    )
    bad = await drive(app, "POST", "/guarded", chunks, sized(chunks) | {"authorization": f"Bearer {forged}"})
    assert bad.status == 401 and bad.pulled == 0 and bad.json()["code"] == "invalid_token"
    assert bad.headers["www-authenticate"].startswith('Bearer realm="dtks", error="invalid_token"')
    # With a good token the size decides; small enough, the route runs as before.
    big = await drive(app, "POST", "/guarded", chunks, sized(chunks) | auditor())
    assert big.status == 413 and big.pulled == 0
    small = json_chunks(1024)
    assert (await drive(app, "POST", "/guarded", small, sized(small) | auditor())).status == 200
    assert ran == ["guarded"]


async def test_a_401_from_a_routes_own_dependency_carries_the_bearer_challenge_too() -> None:
    app, _ = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            "/guarded", json={"items": []}, headers={"authorization": "Bearer x.y.z"}
        )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_every_answer_and_every_problem_document_carries_the_correlation_id_a_500_too() -> None:
    app, _ = build_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        failed = await client.get("/boom", headers={"x-correlation-id": "follow-me-500"})
        refused = await client.post("/small", content=b"x" * (65 * 1024), headers=sized([b"x" * (65 * 1024)]))
        missing = await client.get("/nowhere")
    assert failed.status_code == 500 and failed.headers["content-type"] == PROBLEM_JSON
    assert failed.headers["x-correlation-id"] == "follow-me-500"
    assert failed.json()["correlation_id"] == "follow-me-500"
    assert failed.json()["code"] == "internal_error"
    for answer in (refused, missing):
        assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def edge_app_process(env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """edge_app.py served by ``serve()`` in its own process; yields its URL and, after the block,
    fills the list with the lines it wrote to stdout and stderr."""
    port = _free_port()
    lines: list[str] = []
    proc = subprocess.Popen(
        [sys.executable, str(EDGE_APP)],
        env={**os.environ, "EDGE_APP_PORT": str(port), "DTKS_LOG_LEVEL": "info", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/client", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        lines.extend(line for line in out.splitlines() if line.strip())


def test_an_unexpected_error_writes_exactly_one_structured_record_and_no_plain_traceback() -> None:
    with edge_app_process({}) as (url, lines):
        ids = [httpx.get(f"{url}/boom", timeout=5).headers["x-correlation-id"] for _ in range(3)]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"a log line that is not a JSON record: {line!r}") from None
    errors = [r for r in records if r.get("level") == "error"]
    assert [r["correlation_id"] for r in errors] == ids, errors
    assert all("RuntimeError: a bug of ours" in r["exception"] for r in errors)


def test_forwarded_headers_are_believed_only_from_the_proxies_the_settings_name() -> None:
    spoofed = {"x-forwarded-for": "203.0.113.7"}
    with edge_app_process({}) as (url, _):
        assert httpx.get(f"{url}/client", headers=spoofed).json()["host"] == "127.0.0.1"
    with edge_app_process({"DTKS_FORWARDED_ALLOW_IPS": "127.0.0.1"}) as (url, _):
        assert httpx.get(f"{url}/client", headers=spoofed).json()["host"] == "203.0.113.7"
