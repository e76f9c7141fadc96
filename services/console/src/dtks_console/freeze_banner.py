"""Freezes the Ministry declared that hold now for the signed-in person's region, for the banner of
the pages whose actions they stop. Read from the verification service (GET /freezes answers the
freezes holding or to come that touch the reader's region); a page whose answer fails shows no
banner: the service still refuses a frozen action with a problem that names the freeze."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from dtks_console.access import access_of


def holding(freezes: list[dict[str, Any]], action: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The freezes among ``freezes`` that stop ``action`` at ``now``."""
    out = []
    for f in freezes:
        if f.get("lifted") or action not in f.get("actions", ()):
            continue
        starts, ends = dt.datetime.fromisoformat(f["starts_at"]), dt.datetime.fromisoformat(f["ends_at"])
        if starts <= now < ends:
            out.append(f)
    return out


async def freezes_stopping(request: Request, token: str, action: str) -> list[dict[str, Any]]:
    answer = await access_of(request).call(request, "verification", "GET", "/freezes", token)
    if not answer.ok or not isinstance(answer.body, dict):
        return []
    return holding(answer.body.get("freezes", []), action, dt.datetime.now(dt.UTC))
