"""What the DCI tests and benchmark need: an agency's keys and envelopes, signed as the standard says,
and the checks of every exchange against the pinned OpenAPI document (not this service's code)."""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from dtks_contracts.vocabulary.roles import Role
from dtks_dci import standard
from dtks_dci.domain import envelope as env
from dtks_dci.domain.signing import SigningKey
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.settings import LOCAL_JWT_SECRET


def new_agency_key(key_id: str = "agency-key-1") -> SigningKey:
    return SigningKey.from_seed(key_id, os.urandom(32))


def public_b64(key: SigningKey) -> str:
    return base64.b64encode(key.public_bytes()).decode()


def search_item(query_type: str, query: Any, **criteria: Any) -> dict[str, Any]:
    return {
        "reference_id": env.new_id(),
        "timestamp": env.timestamp(),
        "search_criteria": {"query_type": query_type, "query": query, **criteria},
    }


def envelope(
    action: str,
    message: dict[str, Any],
    *,
    sender_id: str,
    key: SigningKey | None,
    sender_uri: str | None = None,
    receiver_id: str = "dtks.kemensos.go.id",
    total_count: int = 1,
    **header_overrides: Any,
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "version": "1.0.0", "message_id": env.new_id(), "message_ts": env.timestamp(), "action": action,
        "sender_id": sender_id, "receiver_id": receiver_id, "total_count": total_count,
    }  # fmt: skip
    if sender_uri:
        header["sender_uri"] = sender_uri
    header.update(header_overrides)
    body: dict[str, Any] = {"header": header, "message": message}
    if key is not None:
        body["signature"] = key.sign(sender_id, header, message)
    return body


def search_envelope(
    items: list[dict[str, Any]], *, sender_id: str, key: SigningKey | None, **kw: Any
) -> dict[str, Any]:
    message = {"transaction_id": env.new_id(), "search_request": items}
    kw.setdefault("total_count", len(items))
    return envelope("search", message, sender_id=sender_id, key=key, **kw)


AGENCY = "agency-dinsos-bengkulu"  # granted 17.71 and BLT in the realm; here PKH and BLT
NARROW = "agency-narrow"  # granted names only, region 17.71.02
HOUSEHOLDS = 6  # make_household(i) for i in range: villages 17.71.01.x and 17.71.02.x


@dataclass
class Dci:
    system: LocalSystem
    url: str
    key: SigningKey
    narrow_key: SigningKey
    households: list[Any]

    def token(
        self, agency: str = AGENCY, region: str = "17.71", programs: tuple[str, ...] = ("PKH", "BLT")
    ) -> dict[str, str]:
        token = TokenService(LOCAL_JWT_SECRET).issue(
            subject=f"uuid-of-{agency}", role=Role.AGENCY, region=region, programs=programs,
            name=f"service-account-{agency}",
        )  # fmt: skip
        return {"authorization": f"Bearer {token}"}


def subscribe_by_location(dci: Dci, receiver_url: str, location: str) -> dict[str, Any]:
    """A signed subscribe envelope for the agency's registrations in ``location`` (a region code),
    Group records, answered (on-subscribe) and notified under ``receiver_url``/agency/registry/."""
    where = [
        {
            "seq_num": 1,
            "expression1": {"attribute_name": "location", "operator": "eq", "attribute_value": location},
        }
    ]
    item = {
        "reference_id": env.new_id(),
        "timestamp": env.timestamp(),
        "subscribe_criteria": {
            "reg_event_type": "REGISTER",
            "filter_type": "predicate",
            "filter": where,
            "notify_record_type": "Group",
        },
    }
    return envelope("subscribe", {"transaction_id": env.new_id(), "subscribe_request": [item]}, sender_id=AGENCY,
                    key=dci.key, sender_uri=f"{receiver_url}/agency/registry/on-subscribe")  # fmt: skip


def assert_valid(path: str, body: Any, part: standard.Part = "request") -> None:
    """``body`` follows the pinned standard's schema for ``path`` (request, sync response or ack)."""
    found = standard.problems(path, body, part)
    assert not found, found


def assert_http_error(body: Any) -> None:
    """A refusal follows the standard's HttpErrorResponse and its acknowledgement (ERR) schemas."""
    found = standard.problems("", body, "http_error") + standard.problems("", body, "ack")
    assert not found, found
    assert body["message"]["ack_status"] == "ERR"


class CallbackReceiver:
    """An agency's ``on-*`` endpoints on a free local port: every body POSTed to it, by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.url = ""
        self._runner: Any = None

    async def start(self) -> CallbackReceiver:
        from aiohttp import web

        async def take(request: web.Request) -> web.Response:
            self.received.append((request.path, await request.json()))
            return web.json_response(
                {"message": {"ack_status": "ACK", "timestamp": env.timestamp(), "correlation_id": "x"}}
            )

        app = web.Application()
        app.router.add_post("/{tail:.*}", take)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    def bodies(self, path: str) -> list[Any]:
        return [body for p, body in self.received if p == path]


async def register(
    system: LocalSystem, infra: Any, households: list[Any], decree: str, period: str, *,
    accepted_at: dt.datetime, cutoff: dt.datetime, programs: list[Any] | None = None,
) -> None:  # fmt: skip
    """Put ``households`` into the register of ``system``'s registry: the Ministry's acceptances on
    the verification topic (as its relay would send them), then a decree over them."""
    import asyncpg
    import httpx

    from dtks_contracts.vocabulary.programs import Program
    from dtks_registry.testing import acceptance, produce
    from dtks_runtime.testing import wait_until

    database = system.env["DTKS_DATABASE_NAME"].replace("{service}", "registry")
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + "/" + database)
    try:
        before = int(await conn.fetchval("SELECT count(*) FROM candidates"))
        await produce(infra.kafka_bootstrap, system.env["DTKS_TOPIC_PREFIX"], [
            acceptance(f"prop-{h.kk_number}", accepted_at=accepted_at, household=h, programs=programs or [Program.PKH])
            for h in households
        ])  # fmt: skip

        async def projected() -> bool:
            return int(await conn.fetchval("SELECT count(*) FROM candidates")) >= before + len(households)

        await wait_until(projected, what="acceptances projected", within=120)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=system.urls["registry"], timeout=600) as client:
        body = {"decree_number": decree, "period": period, "cutoff": cutoff.isoformat()}
        issued = await client.post(
            "/determinations", json=body, headers=system.headers(Role.MINISTRY_DETERMINER, "ID")
        )
        assert issued.status_code == 201, issued.text
