"""Re-verification rounds across the system: households in the register by a first decree; the city's
social service opens a round over a district with a sample; its prelist per village; officers record
each outcome, the changed one with a change and the ones that leave with their reasons; those visits
become proposals in the proposal service (origin re_verification), run every tier and reach the next
decree, which corrects and deactivates the households. Then the prelist as a workbook, filled in and
uploaded, one of its rows bad and reported. Every service its own process, real Kafka and PostgreSQL,
HTTP only."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import wait_until
from dtks_synthetic import generate_population, proposals

pytestmark = pytest.mark.infra

tokens = TokenService(LOCAL_JWT_SECRET)
REGENCY, PROVINCE, DISTRICT = "17.71", "17", "17.71.01"
VILLAGES = ("17.71.01.1001", "17.71.01.1002", "17.71.01.1003")
TIERS = ("district", "regency", "regent", "province", "ministry")
TODAY = dt.date.today()


def _as(role: Role, region: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {tokens.issue(subject=f'rounds-{role.value}', role=role, region=region)}"
    }


ACTORS = {
    "regency": (Role.REGENCY_OPERATOR, REGENCY),
    "regent": (Role.REGENT, REGENCY),
    "province": (Role.PROVINCE_VERIFIER, PROVINCE),
    "ministry": (Role.MINISTRY_VERIFIER, "ID"),
}


class Driver:
    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str]) -> None:
        self.http, self.urls = http, urls

    async def call(self, method: str, service: str, path: str, role: Role, region: str, **kw: Any) -> Any:
        response = await self.http.request(
            method, f"{self.urls[service]}{path}", headers=_as(role, region), **kw
        )
        assert response.status_code < 300, f"{method} {path} -> {response.status_code}: {response.text[:800]}"
        return response.json()

    async def standing(self, pid: str) -> tuple[str | None, str | None]:
        r = await self.http.get(
            f"{self.urls['verification']}/proposals/{pid}/verification", headers=_as(Role.AUDITOR, "ID")
        )
        return (r.json()["status"], r.json()["tier"]) if r.status_code == 200 else (None, None)

    async def through_every_tier(self, villages: dict[str, str]) -> None:
        """Forward (or ratify) every proposal at each tier as it arrives there, to the Ministry's acceptance."""
        for index, tier in enumerate(TIERS):
            deadline = time.monotonic() + 180
            while True:
                standings = {pid: await self.standing(pid) for pid in villages}
                here = [p for p, s in standings.items() if s == ("in_tier", tier)]
                ahead = [
                    p
                    for p, s in standings.items()
                    if s[0] in ("accepting", "accepted")
                    or (s[0] == "in_tier" and TIERS.index(str(s[1])) > index)
                ]
                if len(ahead) == len(villages):
                    break
                assert not [s for s in standings.values() if s[0] in ("returned", "withdrawn")], standings
                if here and tier == "regent":
                    body = {"regency_code": REGENCY, "decree_number": f"400/{time.time_ns() % 10**9}/KPTS",
                            "decree_date": str(TODAY), "proposal_ids": here}  # fmt: skip
                    await self.call("POST", "verification", "/ratifications", Role.REGENT, REGENCY, json=body)
                elif here:
                    by_actor: dict[tuple[Role, str], list[str]] = defaultdict(list)
                    for pid in here:
                        actor = (
                            (Role.DISTRICT_VERIFIER, villages[pid][:8])
                            if tier == "district"
                            else ACTORS[tier]
                        )
                        by_actor[actor].append(pid)
                    for (role, region), mine in by_actor.items():
                        items = [{"proposal_id": p, "tier": tier, "decision": "forward"} for p in mine]
                        await self.call("POST", "verification", "/decisions", role, region, json=items)
                assert time.monotonic() < deadline, f"not past the {tier} tier: {standings}"
                await asyncio.sleep(0.5)
        for pid in villages:
            await wait_until(lambda pid=pid: self._accepted(pid), 120, f"{pid} accepted")

    async def all_at(self, pids: Any, standing: tuple[str, str]) -> bool:
        return all([await self.standing(p) == standing for p in pids])

    async def _accepted(self, pid: str) -> bool:
        return (await self.standing(pid))[0] == "accepted"

    async def decree(self, number: str, period: str, wanted: int) -> dict[str, Any]:
        """A decree once the registry holds `wanted` candidates up to now."""
        determiner = _as(Role.MINISTRY_DETERMINER, "ID")
        found: dict[str, Any] = {}

        async def issued() -> bool:
            cutoff = dt.datetime.now(dt.UTC).isoformat()
            preview = await self.http.get(
                f"{self.urls['registry']}/candidates", params={"cutoff": cutoff}, headers=determiner
            )
            if preview.status_code != 200 or preview.json()["pending"] < wanted:
                return False
            r = await self.http.post(
                f"{self.urls['registry']}/determinations",
                headers=determiner,
                json={"decree_number": number, "period": period, "cutoff": cutoff},
            )
            found.update(r.json())
            return r.status_code in (200, 201)

        await wait_until(issued, 180, f"decree {number}")
        return found


async def test_a_rounds_visits_become_proposals_that_reach_the_next_decree_and_a_workbook_comes_back(
    services: LocalSystem,
) -> None:
    urls = services.urls
    population = generate_population(REGENCY, people=6000, seed=41)
    bodies = [
        g.body for v in VILLAGES for g in proposals(population, 3, seed=41 + int(v[-1]), village_code=v)
    ]
    async with httpx.AsyncClient(timeout=120) as http:
        driver = Driver(http, urls)
        records = [r.to_json() for r in population.civil_registry_records()]
        for start in range(0, len(records), 5000):
            r = await http.post(
                f"{urls['civil-registry']}/people", json={"people": records[start : start + 5000]}
            )
            assert r.status_code < 300, r.text
        for village in VILLAGES:
            mine = [b for b in bodies if b["village_code"] == village]
            answer = await driver.call(
                "POST", "proposal", "/proposals/batch", Role.VILLAGE_OPERATOR, village, json={"items": mine}
            )
            assert all(r["status"] == 201 for r in answer["results"]), answer
        await driver.through_every_tier({b["proposal_id"]: b["village_code"] for b in bodies})
        first = await driver.decree("1/HUK/2027", "2027-01", len(bodies))
        assert len(first["registered"]) == len(bodies), first

        # The round: the city's social service, a sample of 6 of the district's 9 households.
        round_body = {"region": DISTRICT, "period_start": str(TODAY), "period_end": str(TODAY + dt.timedelta(days=30)),
                      "selection": {"mode": "sample", "sample_size": 6, "seed": 3}}  # fmt: skip

        async def opened_over_the_register() -> bool:
            r = await http.post(f"{urls['verification']}/reverification-rounds", json=round_body,
                                headers=_as(Role.REGENCY_OPERATOR, REGENCY))  # fmt: skip
            assert r.status_code == 201, r.text
            found.update(r.json())
            if found["households"] == 6:
                return True
            # Drawn before the register reached verification: closed, so the next try may open.
            await driver.call("POST", "verification", f"/reverification-rounds/{found['round_id']}/closing",
                              Role.REGENCY_OPERATOR, REGENCY)  # fmt: skip
            return False

        found: dict[str, Any] = {}
        await wait_until(opened_over_the_register, 60, "the register's households in verification")
        round_id = found["round_id"]
        officer = (Role.DISTRICT_VERIFIER, DISTRICT)
        prelist = {
            v: (
                await driver.call(
                    "GET",
                    "verification",
                    f"/reverification-rounds/{round_id}/prelist",
                    *officer,
                    params={"village_code": v},
                )
            )["entries"]
            for v in VILLAGES
        }
        entries = [e for v in VILLAGES for e in prelist[v]]
        assert len(entries) == 6 and sum(1 for v in VILLAGES if prelist[v]) >= 2
        ids = [e["household_id"] for e in entries]
        visit = {"officer": "Rina Marlina", "visit_date": str(TODAY), "latitude": -3.8, "longitude": 102.3}
        outcomes = [
            {
                "household_id": ids[0],
                "outcome": "changed",
                "changes": {"address": {"street": "Jl. Sungai Rupat 9"}},
            },
            {"household_id": ids[1], "outcome": "moved", "note": "Pindah ke Kota Padang"},
            {"household_id": ids[2], "outcome": "not_found"},
            {"household_id": ids[3], "outcome": "no_longer_eligible", "note": "Kepala keluarga kini PNS"},
            {"household_id": ids[4], "outcome": "unchanged"},
        ]
        recorded = await driver.call(
            "POST", "verification", f"/reverification-rounds/{round_id}/visits", *officer,
            json=[{**visit, **o} for o in outcomes],
        )  # fmt: skip
        assert recorded["succeeded"] == 5, recorded
        made = {r["household_id"]: r["proposal_id"] for r in recorded["results"] if r["proposal_id"]}
        assert set(made) == set(ids[:4])

        # The proposal service entered them (through its one entry path) and they run the tiers.
        async def entered() -> bool:
            for pid in made.values():
                r = await http.get(f"{urls['proposal']}/proposals/{pid}", headers=_as(Role.AUDITOR, "ID"))
                if r.status_code != 200:
                    return False
            return True

        await wait_until(entered, 60, "the visits' proposals in the proposal service")
        correction = await driver.call("GET", "proposal", f"/proposals/{made[ids[0]]}", Role.AUDITOR, "ID")
        assert correction["kind"] == "correction"
        village_of = {e["household_id"]: e["village_code"] for e in entries}

        # The district returns two of them; they come back on their visit, with no village meeting to
        # name, keeping their round: the deactivation by its village, the correction by the city's
        # social service (the visit stays the correction's evidence).
        returned = {ids[0]: made[ids[0]], ids[1]: made[ids[1]]}
        await wait_until(
            lambda: driver.all_at(returned.values(), ("in_tier", "district")), 120, "at the district"
        )
        items = [{"proposal_id": p, "tier": "district", "decision": "return", "reasons": ["EVIDENCE_UNCLEAR"]}
                 for p in returned.values()]  # fmt: skip
        await driver.call("POST", "verification", "/decisions", *officer, json=items)

        async def returned_to_the_village() -> bool:
            views = [
                await driver.call("GET", "proposal", f"/proposals/{p}", Role.AUDITOR, "ID")
                for p in returned.values()
            ]
            return all(v["status"] == "returned" for v in views)

        await wait_until(returned_to_the_village, 60, "the returns in the proposal service")
        moved_at = village_of[ids[1]]
        moved_again = {"kind": "deactivation", "village_code": moved_at, "household_id": ids[1], "reason": "moved",
                       "evidence_note": "Tetangga: pindah ke Kota Padang sejak Agustus",
                       "correction_note": "Keterangan tetangga ditambahkan"}  # fmt: skip
        meeting = {"kind": "muskel", "held_on": str(TODAY), "minutes_ref": "BA-07/MUSKEL/2027"}
        with_meeting = await http.post(
            f"{urls['proposal']}/proposals/{returned[ids[1]]}/resubmissions",
            json={**moved_again, "deliberation": meeting}, headers=_as(Role.VILLAGE_OPERATOR, moved_at),
        )  # fmt: skip
        assert with_meeting.status_code == 422, with_meeting.text
        assert [e["field"] for e in with_meeting.json()["errors"]] == ["deliberation"]
        await driver.call("POST", "proposal", f"/proposals/{returned[ids[1]]}/resubmissions",
                          Role.VILLAGE_OPERATOR, moved_at, json=moved_again)  # fmt: skip
        stored = correction["content"]["household"]
        changed_again = {"kind": "correction", "village_code": village_of[ids[0]], "household_id": ids[0],
                         "household": {k: v for k, v in stored.items() if k != "field_visit"},
                         "correction_note": "Alamat diperiksa ulang"}  # fmt: skip
        await driver.call("POST", "proposal", f"/proposals/{returned[ids[0]]}/resubmissions",
                          Role.REGENCY_OPERATOR, REGENCY, json=changed_again)  # fmt: skip
        for household_id, pid in returned.items():
            view = await driver.call("GET", "proposal", f"/proposals/{pid}", Role.AUDITOR, "ID")
            content = view["content"]
            assert view["round"] == 2 and content["round"] == 2, view
            assert (content["origin"], content["reverification_round_id"]) == ("re_verification", round_id)
            assert content["target_household_id"] == household_id and content.get("deliberation") is None
        corrected = await driver.call("GET", "proposal", f"/proposals/{returned[ids[0]]}", Role.AUDITOR, "ID")
        assert corrected["content"]["household"]["field_visit"] == stored["field_visit"]
        # Back in verification at the district, round 2, the visit it was made from in its record.
        await wait_until(
            lambda: driver.all_at(returned.values(), ("in_tier", "district")), 120, "resubmitted"
        )
        record = await driver.call(
            "GET", "verification", f"/proposals/{returned[ids[0]]}/verification", *officer
        )
        assert record["round"] == 2 and record["round_visit"]["round_id"] == round_id, record
        assert record["round_visit"]["outcome"] == "changed"
        await driver.through_every_tier({made[h]: village_of[h] for h in made})
        second = await driver.decree("2/HUK/2027", "2027-04", len(made))
        assert set(second["corrected"]) == {ids[0]}, second
        assert set(second["deactivated"]) == set(ids[1:4]), second
        household = await driver.call("GET", "registry", f"/households/{ids[0]}", Role.AUDITOR, "ID")
        assert household["household"]["address"]["street"] == "Jl. Sungai Rupat 9"

        # The prelist as the workbook officers carry, filled in and uploaded: one good row, one bad.
        download = await http.get(
            f"{urls['verification']}/reverification-rounds/{round_id}/prelist.xlsx", headers=_as(*officer)
        )
        assert download.status_code == 200, download.text
        sheet = load_workbook(io.BytesIO(download.content), read_only=True).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        header = rows[0]
        assert len(rows) == 7 and header[:3] == ["household_id", "village_code", "kk_number"]
        outstanding = [r for r in rows[1:] if r[header.index("outcome")] in (None, "")]
        assert [r[0] for r in outstanding] == [ids[5]]
        filled = Workbook()
        out = filled.active
        out.append(list(header))
        good = dict(zip(header, outstanding[0], strict=True))
        good.update(
            outcome="unchanged", visit_date=str(TODAY), officer="Rina Marlina", latitude=-3.8, longitude=102.3
        )
        out.append([good[h] for h in header])
        bad = dict(good, household_id=ids[4], outcome="moved", visit_date="kemarin")
        out.append([bad[h] for h in header])
        buffer = io.BytesIO()
        filled.save(buffer)
        report = await driver.call(
            "POST", "verification", f"/reverification-rounds/{round_id}/results", *officer,
            files={"file": ("prelist.xlsx", buffer.getvalue(), "application/octet-stream")},
        )  # fmt: skip
        assert report["rows_recorded"] == 1 and report["rows_rejected"] == 1, report
        [rejected] = report["rejected_rows"]
        assert (rejected["row"], rejected["field"], rejected["code"]) == (3, "visit_date", "invalid_value"), (
            report
        )
        csv_text = (
            await http.get(
                f"{urls['verification']}/reverification-rounds/{round_id}/prelist.csv", headers=_as(*officer)
            )
        ).text
        assert csv_text.count("\r\n") == 7 and "unchanged" in csv_text

        closing = await driver.call(
            "POST",
            "verification",
            f"/reverification-rounds/{round_id}/closing",
            Role.REGENCY_OPERATOR,
            REGENCY,
        )
        assert closing["recap"]["visited"] == 6 and closing["recap"]["proposals"] == 4, closing
