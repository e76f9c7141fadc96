"""An institution (LKS) from its registration to the register, across the services as processes:
the regency's social service proposes it, the regency, the province and the Ministry verify it, the
next decree puts it in the register's institutions section, the registry answers for it by region,
and verification learns it from the registry's events (a change of it then finds its target and
enters the decree after). Real Kafka and PostgreSQL, HTTP only between services."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_notification.testing import subscribed_agency
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
    """Issue the decree once the Ministry's acceptance has reached the registry (until then there is
    nothing to determine, and nothing is written)."""
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


async def test_an_institution_verified_through_the_tiers_enters_the_decree_and_is_known_to_verification(
    services: LocalSystem, infra: Infra
) -> None:
    registration = institution_body(VILLAGE)
    residents = registration["institution"]["residents"]
    regency = services.headers(Role.REGENCY_OPERATOR, "17.71")
    async with httpx.AsyncClient(timeout=60) as http:
        people = [
            _civil_record(residents[0], "male", "1771010101100001"),
            _civil_record(residents[1], "female", "1771010101100002"),
        ]
        loaded = await http.post(f"{services.urls['civil-registry']}/people", json={"people": people})
        assert loaded.status_code in (200, 201), loaded.text

        submitted = await http.post(
            f"{services.urls['proposal']}/proposals", json=registration, headers=regency
        )
        assert submitted.status_code == 201, submitted.text
        await _through_the_tiers(http, services, registration["proposal_id"])
        first = await _decree(http, services, "1/HUK/2027", "2027-01")
        institution_id = institution_id_for(registration["proposal_id"])
        assert first["institutions_registered"] == [institution_id] and first["registered"] == []
        assert (first["counts"]["institutions"], first["tree_size"]) == (1, 1)

        listing = await http.get(
            f"{services.urls['registry']}/institutions", params={"region": "17.71"}, headers=regency
        )
        assert listing.status_code == 200, listing.text
        (listed,) = listing.json()["institutions"]
        assert (listed["institution_id"], listed["name"], listed["residents"]) == (
            institution_id, "LKSA Harapan Bunda", 2,
        )  # fmt: skip
        assert [r["nik"] for r in listed["institution"]["residents"]] == [r["nik"] for r in residents]

        # Verification learned the institution and its residents from the registry's events.
        verification_db = f"{services.label}{services.run_id}_verification"
        conn = await asyncpg.connect(infra.database_url, database=verification_db)
        try:

            async def known() -> bool:
                return bool(
                    await conn.fetchval(
                        "SELECT active FROM registered_institutions WHERE institution_id = $1", institution_id
                    )
                )

            await wait_until(known, 60, "the institution in verification's register")
        finally:
            await conn.close()

        # So a change of it finds its target, runs the tiers, and enters the next decree.
        change = {
            **institution_body(VILLAGE, kind="institution_change", capacity=60),
            "proposal_id": str(uuid.uuid4()),
            "institution_id": institution_id,
        }
        submitted = await http.post(f"{services.urls['proposal']}/proposals", json=change, headers=regency)
        assert submitted.status_code == 201, submitted.text
        await _through_the_tiers(http, services, change["proposal_id"])
        second = await _decree(http, services, "2/HUK/2027", "2027-04")
        assert second["institutions_changed"] == [institution_id]
        read = await http.get(f"{services.urls['registry']}/institutions/{institution_id}", headers=regency)
        assert (read.json()["institution"]["capacity"], read.json()["last_decree"]) == (60, "2/HUK/2027")


AGENCY_SECRET = "dinsos-bengkulu-secret-0123456789"


async def test_a_decreed_institution_reaches_a_subscribed_agency_masked_and_its_proposal_reads_determined(
    services: LocalSystem,
) -> None:
    residents = [
        {"nik": "1771011503110003", "name": "Rizky Ramadhan", "birth_date": "2011-03-15",
         "admitted_on": "2021-02-01"},
        {"nik": "1771015109130004", "name": "Dewi Anggraini", "birth_date": "2013-09-11",
         "admitted_on": "2022-06-20"},
    ]  # fmt: skip
    registration = institution_body(
        VILLAGE,
        name="LKSA Kasih Ibu",
        registration_number="AHU-0054321.AH.01.04.Tahun 2020",
        residents=residents,
    )
    regency = services.headers(Role.REGENCY_OPERATOR, "17.71")
    with subscribed_agency(services, AGENCY_SECRET, ["registry.institution_registered"]) as agency:
        async with httpx.AsyncClient(timeout=60) as http:
            people = [
                _civil_record(residents[0], "male", "1771010101100003"),
                _civil_record(residents[1], "female", "1771010101100004"),
            ]
            loaded = await http.post(f"{services.urls['civil-registry']}/people", json={"people": people})
            assert loaded.status_code in (200, 201), loaded.text
            submitted = await http.post(
                f"{services.urls['proposal']}/proposals", json=registration, headers=regency
            )
            assert submitted.status_code == 201, submitted.text
            await _through_the_tiers(http, services, registration["proposal_id"])
            issued = await _decree(http, services, "3/HUK/2027", "2027-07")
            institution_id = institution_id_for(registration["proposal_id"])
            assert issued["institutions_registered"] == [institution_id]

            # The agency's webhook gets the registration once, signed, the residents masked.
            async def delivered() -> bool:
                return bool(list(agency.requests))

            await wait_until(delivered, 120, "the institution's registration at the agency")
            (request,) = list(agency.requests)
            headers = request.headers
            expected = hmac.new(
                AGENCY_SECRET.encode(),
                f"{headers['x-dtks-timestamp']}.".encode() + request.body,
                hashlib.sha256,
            )
            assert headers["x-dtks-signature"] == f"sha256={expected.hexdigest()}"
            event = json.loads(request.body)["event"]
            assert (event["event_type"], event["payload"]["institution_id"]) == (
                "registry.institution_registered", institution_id,
            )  # fmt: skip
            assert [(r["nik"], r["name"]) for r in event["payload"]["institution"]["residents"]] == [
                ("177101**********", "R**** R*******"), ("177101**********", "D*** A********"),
            ]  # fmt: skip

            # The proposal's status follows the decree, as a household's does.
            async def determined() -> bool:
                answer = await http.get(
                    f"{services.urls['proposal']}/proposals/{registration['proposal_id']}", headers=regency
                )
                return bool(answer.json().get("status") == "determined")

            await wait_until(determined, 60, "the institution's proposal determined")

            # A resident asks the citizens' check, and is found, masked.
            check = await http.get(
                f"{services.urls['registry']}/public/registration-status",
                params={"nik": residents[1]["nik"], "name": residents[1]["name"]},
            )
            assert check.status_code == 200, check.text
            assert (check.json()["registered"], check.json()["programs"]) == (True, [])
            assert check.json()["name"] == "D*** A********"
