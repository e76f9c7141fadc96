"""The whole system: every service its own process, real Kafka and PostgreSQL, HTTP only.

The demo driver (deploy/local/demo.py) walks a quarter as the users would: proposals from their
villages through every tier to a decree, a return at the province and its resubmission, a
correction and a deactivation in the next quarter. These tests run it against services started on
free ports, then check what each kind of user sees.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_notification.testing import HttpReceiver, subscribed_agency
from dtks_runtime.auth.dev_users import tier_users
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import wait_until

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.infra

tokens = TokenService(LOCAL_JWT_SECRET)
AGENCY_SECRET = "health-ministry-webhook-secret"
OFFICERS = {(u.role, u.region): u for u in tier_users("17.71")}


@dataclass(frozen=True)
class System:
    urls: dict[str, str]
    env: dict[str, str]
    demo_output: str
    agency: HttpReceiver  # a partner agency's webhook endpoint, keeping every request it got

    def headers(self, role: Role, region: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {tokens.issue(subject=f'e2e-{role.value}', role=role, region=region)}"
        }


@pytest.fixture(scope="module")
def system(services: LocalSystem) -> Iterator[System]:
    """The services with the demo's quarter run through them, and an agency subscribed before it."""
    with subscribed_agency(services, AGENCY_SECRET, ["registry.determination_issued"]) as agency:
        demo = subprocess.run(
            [sys.executable, str(ROOT / "deploy/local/demo.py")],
            env={**services.env, "DTKS_DEMO_PEOPLE": "6000", "DTKS_DEMO_REGISTER": "40"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        yield System(services.urls, services.env, demo.stdout, agency)


def get(system: System, service: str, path: str, role: Role, region: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{system.urls[service]}{path}", headers=system.headers(role, region), params=params, timeout=60
    )


def test_two_decrees_fix_the_register_the_quarters_built(system: System) -> None:
    first = get(system, "registry", "/determinations/1/HUK/2026", Role.AUDITOR, "ID").json()
    second = get(system, "registry", "/determinations/2/HUK/2027", Role.AUDITOR, "ID").json()
    assert first["counts"]["households"] == 40
    assert len(first["registered"]) == 40
    # Quarter 2: 13 new households reach the Ministry, one correction, one deactivation.
    assert (len(second["registered"]), len(second["corrected"]), len(second["deactivated"])) == (13, 1, 1)
    assert second["counts"]["households"] == 40 + 13 - 1


def test_a_determined_household_has_its_full_history_across_services(system: System) -> None:
    household_id = get(system, "registry", "/determinations/1/HUK/2026", Role.AUDITOR, "ID").json()[
        "registered"
    ][0]
    history = get(system, "registry", f"/audit/households/{household_id}/history", Role.AUDITOR, "ID").json()
    types = [e["event_type"] for e in history["events"]]
    for expected in (
        "proposal.submitted",
        "verification.integrity_checked",
        "verification.verified_at_tier",
        "verification.batch_ratified"
        if "verification.batch_ratified" in types
        else "verification.verified_at_tier",
        "verification.accepted_by_ministry",
        "registry.household_registered",
        "registry.determination_issued",
    ):
        assert expected in types
    assert types.index("proposal.submitted") < types.index("registry.household_registered")
    # Who did what: the demo acts as the officers it would create in Keycloak, by user and name.
    submitted = next(e for e in history["events"] if e["event_type"] == "proposal.submitted")
    officer = OFFICERS[(Role.VILLAGE_OPERATOR, submitted["payload"]["village_code"])]
    assert (submitted["actor"]["subject"], submitted["actor"]["name"]) == (officer.username, officer.name)
    forwarded = next(e for e in history["events"] if e["event_type"] == "verification.verified_at_tier")
    assert forwarded["actor"]["name"] and forwarded["payload"]["verifier"] == forwarded["actor"]


def test_a_return_at_the_province_reaches_the_village_and_the_resubmission_runs_the_tiers_again(
    system: System,
) -> None:
    # The demo returned two proposals at the province and resubmitted them; find them by status.
    listing = get(system, "proposal", "/proposals", Role.REGENCY_OPERATOR, "17.71", limit="200").json()
    resubmitted = [p for p in listing["items"] if p["round"] == 2]
    assert len(resubmitted) == 2
    proposal = resubmitted[0]
    detail = get(
        system,
        "proposal",
        f"/proposals/{proposal['proposal_id']}",
        Role.VILLAGE_OPERATOR,
        proposal["village_code"],
    ).json()
    timeline = [(e["round"], e["event"]) for e in detail["timeline"]]
    returned = [t for t in timeline if "returned" in str(t[1])]
    assert returned, timeline
    assert any(r == 2 for r, _ in timeline)  # the second round has its own entries
    assert detail["status"] != "returned"


def test_a_citizen_can_check_registration_without_revealing_anything_to_a_wrong_name(system: System) -> None:
    household_id = get(system, "registry", "/determinations/1/HUK/2026", Role.AUDITOR, "ID").json()[
        "registered"
    ][5]
    household = get(system, "registry", f"/households/{household_id}", Role.AUDITOR, "ID").json()
    member = household["household"]["members"][0]
    check = f"{system.urls['registry']}/public/registration-status"
    right = httpx.get(check, params={"nik": member["nik"], "name": member["name"]}).json()
    wrong = httpx.get(check, params={"nik": member["nik"], "name": "Nama Yang Salah"}).json()
    unknown = httpx.get(check, params={"nik": "1771010101900001", "name": "Nama Yang Salah"}).json()
    assert right["registered"] is True and right["name"] != member["name"]  # masked
    assert wrong.keys() == unknown.keys() == right.keys()
    assert wrong["registered"] is False and {k: v for k, v in wrong.items() if k != "nik"} == {
        k: v for k, v in unknown.items() if k != "nik"
    }


def test_an_auditors_replay_reproduces_every_decrees_hash(system: System) -> None:
    response = httpx.post(
        f"{system.urls['registry']}/audit/replays",
        json={"mode": "verify"},
        headers=system.headers(Role.AUDITOR, "ID"),
        timeout=300,
    )
    report = response.json()
    assert report["ok"] is True, report
    decrees = {d["decree_number"]: d for d in report["decrees"]}
    assert set(decrees) == {"1/HUK/2026", "2/HUK/2027"}
    for decree in decrees.values():
        assert decree["replayed_hash"] == decree["recorded_hash"] == decree["live_hash"]


def test_a_subscribed_agency_receives_each_decree_once_signed(system: System) -> None:
    async def both_decrees() -> bool:
        return len({r.headers["x-dtks-delivery-id"] for r in list(system.agency.requests)}) >= 2

    asyncio.run(wait_until(both_decrees, within=60, what="both decrees delivered to the agency"))
    decrees: dict[str, set[str]] = {}
    for request in list(system.agency.requests):
        headers = request.headers
        expected = hmac.new(
            AGENCY_SECRET.encode(), f"{headers['x-dtks-timestamp']}.".encode() + request.body, hashlib.sha256
        )
        assert headers["x-dtks-signature"] == f"sha256={expected.hexdigest()}"
        event = json.loads(request.body)["event"]
        decrees.setdefault(event["payload"]["decree_number"], set()).add(headers["x-dtks-delivery-id"])
    assert set(decrees) == {"1/HUK/2026", "2/HUK/2027"}
    assert all(len(ids) == 1 for ids in decrees.values())  # redelivered at most under the same id


def test_a_welfare_decile_set_by_the_ministry_reaches_a_subscribed_agency_once_signed(
    system: System, services: LocalSystem
) -> None:
    registered = get(system, "registry", "/determinations/1/HUK/2026", Role.AUDITOR, "ID").json()[
        "registered"
    ]
    household_id = next(  # one still in the register (the demo's second quarter deactivates one)
        h
        for h in registered
        if get(system, "registry", f"/households/{h}", Role.AUDITOR, "ID").json()["status"] == "active"
    )
    with subscribed_agency(services, AGENCY_SECRET, ["registry.welfare_decile_set"]) as agency:
        ranking = {
            "source": "BPS ranking 2026-Q4",
            "as_of": "2026-11-01",
            "households": [{"household_id": household_id, "decile": 3}],
        }

        def load() -> dict[str, Any]:
            answer: dict[str, Any] = httpx.post(
                f"{system.urls['registry']}/welfare-deciles",
                json=ranking,
                headers=system.headers(Role.MINISTRY_VERIFIER, "ID"),
                timeout=60,
            ).json()
            return answer

        first = load()
        assert first["changed"] == 1, first["results"]
        again = load()
        assert again["changed"] == 0 and again["unchanged"] == 1, again  # sent again: nothing new

        async def delivered() -> bool:
            return bool(agency.requests)

        asyncio.run(wait_until(delivered, within=60, what="the decile delivered to the agency"))
        asyncio.run(asyncio.sleep(2))  # room for a second delivery, which must not come
        bodies = [json.loads(r.body) for r in list(agency.requests)]
        request = agency.requests[0]
    assert len({r.headers["x-dtks-delivery-id"] for r in list(agency.requests)}) == 1
    expected = hmac.new(
        AGENCY_SECRET.encode(),
        f"{request.headers['x-dtks-timestamp']}.".encode() + request.body,
        hashlib.sha256,
    )
    assert request.headers["x-dtks-signature"] == f"sha256={expected.hexdigest()}"
    event = bodies[0]["event"]
    assert event["event_type"] == "registry.welfare_decile_set"
    assert (event["payload"]["household_id"], event["payload"]["decile"]) == (household_id, 3)
    view = get(system, "registry", f"/households/{household_id}", Role.AUDITOR, "ID").json()
    assert view["welfare_decile"]["decile"] == 3
