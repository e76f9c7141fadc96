"""Every decision in the log: a proposal window set by the Ministry and a field visit recorded by a
district verifier are domain events, so a household's audit history (the registry's audit consumer
over the services' topics) and an auditor's replay show them. Every service its own process, real
Kafka and PostgreSQL, HTTP only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import VILLAGE
from dtks_registry.domain.identity import household_id_for
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import wait_until
from dtks_synthetic import generate_population, proposals

pytestmark = pytest.mark.infra

tokens = TokenService(LOCAL_JWT_SECRET)
REGENCY, DISTRICT, PROVINCE = VILLAGE[:5], VILLAGE[:8], VILLAGE[:2]


def _as(role: Role, region: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(subject=f'log-{role.value}', role=role, region=region)}"}


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), response.text
    return response.json()


async def test_a_window_change_and_a_field_visit_are_in_the_households_history_and_its_replay(
    services: LocalSystem,
) -> None:
    urls = services.urls
    population = generate_population(REGENCY, people=3000, seed=23)
    [body] = [p.body for p in proposals(population, 1, seed=23, village_code=VILLAGE)]
    async with httpx.AsyncClient(timeout=120) as http:
        records = [r.to_json() for r in population.civil_registry_records()]
        await _ok(await http.post(f"{urls['civil-registry']}/people", json={"people": records}))
        today = dt.date.today()
        window = {"open": True, "period": {"start": str(today - dt.timedelta(days=1)),
                                           "end": str(today + dt.timedelta(days=30))}, "quota": 500}  # fmt: skip
        await _ok(await http.put(f"{urls['proposal']}/windows/{REGENCY}", json=window,
                                 headers=_as(Role.MINISTRY_VERIFIER, "ID")))  # fmt: skip
        submitted = await _ok(
            await http.post(
                f"{urls['proposal']}/proposals", json=body, headers=_as(Role.VILLAGE_OPERATOR, VILLAGE)
            )
        )
        pid = submitted["proposal_id"]
        verification = f"{urls['verification']}/proposals/{pid}/verification"

        async def waits_at(tier: str) -> bool:
            r = await http.get(verification, headers=_as(Role.AUDITOR, "ID"))
            return r.status_code == 200 and r.json()["status"] == "in_tier" and r.json()["tier"] == tier

        await wait_until(lambda: waits_at("district"), 120, "the proposal at the district tier")
        visit = {"officer": "Budi Santoso", "visit_date": str(today), "latitude": -3.8, "longitude": 102.3,
                 "photos": [{"subject": "roof", "sha256": "a" * 64, "location": "visits/roof.jpg"}]}  # fmt: skip
        await _ok(await http.post(f"{urls['verification']}/proposals/{pid}/field-visits", json=visit,
                                  headers=_as(Role.DISTRICT_VERIFIER, DISTRICT)))  # fmt: skip
        for tier, role, region in (
            ("district", Role.DISTRICT_VERIFIER, DISTRICT),
            ("regency", Role.REGENCY_OPERATOR, REGENCY),
        ):
            item = {"proposal_id": pid, "tier": tier, "decision": "forward"}
            await _ok(
                await http.post(f"{urls['verification']}/decisions", json=item, headers=_as(role, region))
            )
        ratification = {"regency_code": REGENCY, "decree_number": "400/77/B.III/2026",
                        "decree_date": str(today), "proposal_ids": [pid]}  # fmt: skip
        await _ok(await http.post(f"{urls['verification']}/ratifications", json=ratification,
                                  headers=_as(Role.REGENT, REGENCY)))  # fmt: skip
        for tier, role, region in (
            ("province", Role.PROVINCE_VERIFIER, PROVINCE),
            ("ministry", Role.MINISTRY_VERIFIER, "ID"),
        ):
            item = {"proposal_id": pid, "tier": tier, "decision": "forward"}
            await _ok(
                await http.post(f"{urls['verification']}/decisions", json=item, headers=_as(role, region))
            )

        async def accepted() -> bool:
            r = await http.get(verification, headers=_as(Role.AUDITOR, "ID"))
            return r.status_code == 200 and r.json()["status"] == "accepted"

        await wait_until(accepted, 120, "the Ministry's acceptance")
        determiner = _as(Role.MINISTRY_DETERMINER, "ID")

        async def decreed() -> bool:
            cutoff = dt.datetime.now(dt.UTC).isoformat()
            r = await http.post(f"{urls['registry']}/determinations", headers=determiner,
                                json={"decree_number": "9/HUK/2027", "period": "2027-01", "cutoff": cutoff})  # fmt: skip
            return r.status_code in (200, 201)

        await wait_until(decreed, 120, "a decree with the household")
        hid = household_id_for(pid)
        auditor = _as(Role.AUDITOR, "ID")
        wanted = {"proposal.window_set", "verification.field_visit_recorded", "registry.household_registered"}

        async def history() -> list[dict[str, Any]]:
            r = await http.get(f"{urls['registry']}/audit/households/{hid}/history", headers=auditor)
            return list(r.json()["events"]) if r.status_code == 200 else []

        async def complete() -> bool:
            return wanted <= {e["event_type"] for e in await history()}

        await wait_until(complete, 120, "the window and the visit in the household's history")
        events = await history()
        window_doc = next(e for e in events if e["event_type"] == "proposal.window_set")
        assert (window_doc["payload"]["regency_code"], window_doc["payload"]["quota"]) == (REGENCY, 500)
        assert window_doc["actor"]["role"] == Role.MINISTRY_VERIFIER.value
        visit_doc = next(e for e in events if e["event_type"] == "verification.field_visit_recorded")
        assert (
            visit_doc["payload"]["proposal_id"] == pid and visit_doc["payload"]["officer"] == "Budi Santoso"
        )
        assert visit_doc["payload"]["photos"][0]["sha256"] == "a" * 64
        types = [e["event_type"] for e in events]
        assert types.index("proposal.window_set") < types.index("proposal.submitted")
        assert types.index("verification.field_visit_recorded") < types.index(
            "verification.accepted_by_ministry"
        )

        # An auditor's replay reads them from the log too: the replayed audit trail equals the live one.
        report = await _ok(
            await http.post(f"{urls['registry']}/audit/replays", json={"mode": "verify"}, headers=auditor,
                            timeout=300)
        )  # fmt: skip
        assert report["ok"] is True, report
