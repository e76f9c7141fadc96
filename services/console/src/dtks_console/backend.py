"""The services' public HTTP APIs, called with the signed-in person's own access token: the console
sees exactly what that person may see, and the services make every decision about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        proposal: str,
        verification: str,
        registry: str = "",
        notification: str = "",
        complaints: str = "",
    ) -> None:
        self.http = http
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
        answer = await self.http.request(
            method,
            f"{self.base[service]}{path}",
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            json=json,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        return Answer(answer.status_code, body)
