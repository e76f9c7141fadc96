"""The services' public HTTP APIs, called with the signed-in person's own access token: the console
sees exactly what that person may see, and the services make every decision about it."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document of a refusal (or a stand-in when the service sent none)."""
        if isinstance(self.body, dict) and "detail" in self.body:
            return self.body
        return {"status": self.status, "code": "unexpected_answer", "detail": str(self.body)[:300]}


class Services:
    """The services' base URLs and the two clients calls go out on: ``calls`` (aiohttp) for the pages'
    API calls through :meth:`call`, ``http`` (httpx) for the few that stream (an upload, an export)
    or read an answer's parts themselves.

    Not httpx for :meth:`call`: profiled under 50 users at once (py-spy on the console's processes,
    the queue page), httpx and httpcore took about 40% of the console's CPU: each request scanned
    the pool's every connection with a readability syscall, and set up locks and events whose
    backend check imports the absent ``sniffio`` (a failed import, searching sys.path) several
    times a request. The DCI adapter left httpx for aiohttp for the same cost."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        calls: aiohttp.ClientSession,
        proposal: str,
        verification: str,
        registry: str = "",
        notification: str = "",
        complaints: str = "",
    ) -> None:
        self.http = http
        self.calls = calls
        self.base = {
            "proposal": proposal.rstrip("/"),
            "verification": verification.rstrip("/"),
            "registry": registry.rstrip("/"),
            "notification": notification.rstrip("/"),
            "complaints": complaints.rstrip("/"),
        }

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        async with self.calls.request(
            method,
            f"{self.base[service]}{path}",
            params=_query(params),
            json=json,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            allow_redirects=False,  # as httpx did: an answer is the service's own
        ) as answer:
            raw = await answer.read()
            try:
                body = _json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            return Answer(answer.status, body)


def _query(params: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The query as httpx wrote it: empty values left out, booleans as true/false, lists repeated."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value in (None, ""):
            continue
        for one in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, ("true" if one else "false") if isinstance(one, bool) else str(one)))
    return pairs


def client_session() -> aiohttp.ClientSession:
    """The pooled client of the pages' API calls: up to 200 connections (50 people at once make up
    to 100 calls at once), each kept for the next call. It keeps no cookies: one client serves every
    signed-in person, so a cookie a service set for one must never go out with another's call."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=200),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
