"""Freezes the Ministry declared that hold now for the signed-in person's region, for the banner of
the pages whose actions they stop. Read from the verification service (GET /freezes answers the
freezes holding or to come that touch the reader's region); a page whose answer fails shows no
banner: the service still refuses a frozen action with a problem that names the freeze."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import Request

from dtks_console.access import access_of
from dtks_console.oidc import token_claims


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


# The service's answer depends only on the reader's region: one answer serves every page of a region
# for this long, instead of a second call to the service on every queue page (half the service's
# work for the console's busiest page). Short, so a freeze just declared shows within a few seconds;
# the service itself refuses a frozen action whatever a banner shows.
FREEZES_KEPT_SECONDS = 2.0


def forget_freezes(request: Request) -> None:
    """Drop the kept answers: a freeze declared, shortened or lifted through this process shows on its
    next page. Other console processes see it when their own answer expires."""
    request.app.state.freezes_seen = {}


async def freezes_stopping(request: Request, token: str, action: str) -> list[dict[str, Any]]:
    # The token comes from the person's server-side session, never from the browser: its region
    # can be read without checking the signature, which the service checks on every call.
    region = token_claims(token).get("region")
    seen: dict[Any, tuple[float, list[dict[str, Any]]]] | None = getattr(
        request.app.state, "freezes_seen", None
    )
    if seen is None:
        seen = request.app.state.freezes_seen = {}
    kept = seen.get(region)
    if kept is not None and kept[0] > time.monotonic():
        freezes = kept[1]
    else:
        answer = await access_of(request).call(request, "verification", "GET", "/freezes", token)
        if not answer.ok or not isinstance(answer.body, dict):
            return []
        freezes = answer.body.get("freezes", [])
        seen[region] = (time.monotonic() + FREEZES_KEPT_SECONDS, freezes)
    return holding(freezes, action, dt.datetime.now(dt.UTC))
