"""An institution's assistance (#19) across the services as processes: refused at the door while the
register's accreditation of the institution has expired, accepted once a change carrying the renewed
accreditation has run the tiers and entered a decree, then verified by the regency, the province and
the Ministry like any institution proposal, and listed in the next decree with what the institution
is to receive. Real Kafka and PostgreSQL, HTTP only between services."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import institution_body
from dtks_registry.domain.identity import institution_id_for
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra

VILLAGE = "17.71.01.1001"
TIERS = (
    ("regency", Role.REGENCY_OPERATOR, "17.71"),
    ("province", Role.PROVINCE_VERIFIER, "17"),
    ("ministry", Role.MINISTRY_VERIFIER, "ID"),
)


def _civil_record(resident: dict[str, Any], sex: str, kk: str) -> dict[str, Any]:
    return {
        "nik": resident["nik"], "name": resident["name"], "birth_date": resident["birth_date"], "sex": sex,
        "kk_number": kk, "address": "Jl. Merapi No. 21", "rt": "004", "rw": "002", "village_code": VILLAGE,
        "alive": True, "died_on": None, "moved_to": None, "moved_on": None, "relation_to_head": "child",
    }  # fmt: skip


# The two helpers below are tests/test_institutions_system.py's (test modules are imported apart).
async def _through_the_tiers(http: httpx.AsyncClient, system: LocalSystem, proposal_id: str) -> None:
    verification = system.urls["verification"]
    for tier, role, region in TIERS:
        headers = system.headers(role, region)

        async def queued(tier: str = tier, headers: dict[str, str] = headers) -> bool:
            answer = await http.get(f"{verification}/queues/{tier}", params={"limit": 1000}, headers=headers)
            return proposal_id in {item["proposal_id"] for item in answer.json()["items"]}

        await wait_until(queued, 120, f"proposal {proposal_id} in the {tier} queue")
        body = {"proposal_id": proposal_id, "tier": tier, "decision": "forward"}
        decided = await http.post(f"{verification}/decisions", json=body, headers=headers)
        assert decided.status_code == 200, decided.text


async def _decree(http: httpx.AsyncClient, system: LocalSystem, number: str, period: str) -> dict[str, Any]:
    headers = system.headers(Role.MINISTRY_DETERMINER, "ID")
    issued: dict[str, Any] = {}

    async def determined() -> bool:
        body = {"decree_number": number, "period": period, "cutoff": dt.datetime.now(dt.UTC).isoformat()}
        answer = await http.post(f"{system.urls['registry']}/determinations", json=body, headers=headers)
        if answer.status_code == 409 and answer.json()["code"] == "nothing_to_determine":
            return False
        assert answer.status_code == 201, answer.text
        issued.update(answer.json())
        return True

    await wait_until(determined, 120, f"decree {number}")
    return issued


async def _age_the_accreditation(conn: asyncpg.Connection, institution_id: str) -> None:
    """A year passing, for the one date that matters here: the register's accreditation, as the
    proposal service keeps it from the registry's events, ends yesterday. (The services run on
    today's date, and no door lets an expired accreditation in, so the test cannot wait for one.)"""

    async def known() -> bool:
        return bool(
            await conn.fetchval(
                "SELECT 1 FROM registered_institutions WHERE institution_id = $1", institution_id
            )
        )

    await wait_until(known, 60, "the institution in the proposal service's copy of the register")
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    await conn.execute(
        """UPDATE registered_institutions
           SET accreditation = jsonb_set(accreditation, '{valid_until}', to_jsonb($2::text))
           WHERE institution_id = $1""",
        institution_id,
        yesterday,
    )


async def test_assistance_is_refused_while_the_accreditation_is_expired_and_decreed_after_its_renewal(
    services: LocalSystem, infra: Infra
) -> None:
    registration = institution_body(VILLAGE)
    residents = registration["institution"]["residents"]
    regency = services.headers(Role.REGENCY_OPERATOR, "17.71")
    proposal_url = f"{services.urls['proposal']}/proposals"
    proposal_db = await asyncpg.connect(
        infra.database_url, database=f"{services.label}{services.run_id}_proposal"
    )
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            people = [
                _civil_record(residents[0], "male", "1771010101100001"),
                _civil_record(residents[1], "female", "1771010101100002"),
            ]
            loaded = await http.post(f"{services.urls['civil-registry']}/people", json={"people": people})
            assert loaded.status_code in (200, 201), loaded.text
            submitted = await http.post(proposal_url, json=registration, headers=regency)
            assert submitted.status_code == 201, submitted.text
            await _through_the_tiers(http, services, registration["proposal_id"])
            await _decree(http, services, "1/HUK/2027", "2027-01")
            institution_id = institution_id_for(registration["proposal_id"])
            await _age_the_accreditation(proposal_db, institution_id)

            quarter = {"program": "ATENSI", "starts_on": "2027-04-01", "ends_on": "2027-06-30"}
            assistance = {
                "proposal_id": str(uuid.uuid4()), "kind": "institution_assistance", "village_code": VILLAGE,
                "institution_id": institution_id,
                "assistance": {**quarter, "basis": "per_resident", "residents": [r["nik"] for r in residents]},
            }  # fmt: skip
            expired = await http.post(proposal_url, json=assistance, headers=regency)
            assert (expired.status_code, expired.json()["code"]) == (422, "accreditation_expired"), (
                expired.text
            )
            assert "renewed accreditation" in expired.json()["detail"]
            # Other refusals at the same door: an unknown institution, a person who is not a resident.
            unknown = await http.post(
                proposal_url, json={**assistance, "institution_id": "lks-unknown"}, headers=regency
            )
            assert (unknown.status_code, unknown.json()["code"]) == (404, "institution_not_found")
            # Nothing half-written: no proposal, no event, for any of them.
            assert (
                await proposal_db.fetchval(
                    "SELECT count(*) FROM proposals WHERE kind = 'institution_assistance'"
                )
                == 0
            )
            assert (
                await proposal_db.fetchval(
                    "SELECT count(*) FROM events WHERE partition_key = $1", assistance["proposal_id"]
                )
                == 0
            )

            # The renewal: a change of the institution with the renewed accreditation, through the tiers.
            renewed_until = (dt.date.today() + dt.timedelta(days=1000)).isoformat()
            change = {
                **institution_body(VILLAGE, kind="institution_change",
                                   accreditation={"grade": "A", "valid_until": renewed_until}),
                "proposal_id": str(uuid.uuid4()), "institution_id": institution_id,
            }  # fmt: skip
            submitted = await http.post(proposal_url, json=change, headers=regency)
            assert submitted.status_code == 201, submitted.text
            await _through_the_tiers(http, services, change["proposal_id"])
            second = await _decree(http, services, "2/HUK/2027", "2027-04")
            assert second["institutions_changed"] == [institution_id]

            # Once the renewal reached the proposal service, the same assistance is let in (a refusal
            # wrote nothing, so sending it again under its id is safe).
            stranger = {**assistance, "proposal_id": str(uuid.uuid4())}
            stranger["assistance"] = {**assistance["assistance"], "residents": ["1771016101090004"]}
            entered: dict[str, Any] = {}

            async def let_in() -> bool:
                answer = await http.post(proposal_url, json=assistance, headers=regency)
                if answer.status_code == 422 and answer.json()["code"] == "accreditation_expired":
                    return False
                assert answer.status_code == 201, answer.text
                entered.update(answer.json())
                return True

            await wait_until(let_in, 60, "the renewed accreditation at the proposal service")
            not_resident = await http.post(proposal_url, json=stranger, headers=regency)
            assert (not_resident.status_code, not_resident.json()["code"]) == (422, "not_a_resident")
            assert not_resident.json()["errors"][0]["field"] == "assistance.residents[0]"

            await _through_the_tiers(http, services, assistance["proposal_id"])
            third = await _decree(http, services, "3/HUK/2027", "2027-07")
            assert third["institution_assistance"] == [
                {
                    "proposal_id": assistance["proposal_id"], "institution_id": institution_id,
                    **quarter, "basis": "per_resident", "residents_counted": 2,
                }
            ], json.dumps(third, indent=1)  # fmt: skip
            assert "assistance section" in third["hash_algorithm"]
            assert third["tree_size"] == 2  # the institution's leaf and the assistance's

            read = await http.get(
                f"{services.urls['registry']}/institutions/{institution_id}/assistance", headers=regency
            )
            assert read.status_code == 200, read.text
            assert [
                (a["proposal_id"], a["decree_number"], a["program"]) for a in read.json()["assistance"]
            ] == [(assistance["proposal_id"], "3/HUK/2027", "ATENSI")]

            # The assistance as an event of its own, for agencies matched by the institution's village.
            registry_db = await asyncpg.connect(
                infra.database_url, database=f"{services.label}{services.run_id}_registry"
            )
            try:
                announced = [
                    json.loads(r["envelope"])["payload"]
                    for r in await registry_db.fetch(
                        "SELECT envelope FROM events WHERE event_type = 'registry.institution_assistance_determined'"
                    )
                ]
            finally:
                await registry_db.close()
            assert [(a["proposal_id"], a["village_code"], a["decree_number"]) for a in announced] == [
                (assistance["proposal_id"], VILLAGE, "3/HUK/2027")
            ]
            assert announced[0]["assistance"]["residents_counted"] == 2
    finally:
        await proposal_db.close()
