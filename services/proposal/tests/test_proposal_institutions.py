"""Institutions' (LKS) proposals enter by the households' door (POST /proposals, one entry path):
from the regency's social service or the institution's own operator, idempotent, refused with a
clear problem and nothing written when the input is bad or out of the proposer's reach."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import VILLAGE, count, database_of, headers, institution_body, operator

pytestmark = pytest.mark.infra

ServiceFactory = Any
REGENCY = VILLAGE[:5]  # Kota Bengkulu's social service
SOCIAL_SERVICE = headers(Role.REGENCY_OPERATOR, REGENCY)


async def _stored_payload(app: Any, proposal_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_of(app))
    try:
        raw = await conn.fetchval(
            "SELECT envelope FROM events WHERE partition_key = $1 AND event_type = 'proposal.submitted'",
            proposal_id,
        )
    finally:
        await conn.close()
    envelope = json.loads(raw) if isinstance(raw, str) else dict(raw)
    payload: dict[str, Any] = envelope["payload"]
    return payload


async def test_the_regency_social_service_registers_an_institution_once_however_often_it_retries(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        body = institution_body()
        first = await client.post("/proposals", json=body, headers=SOCIAL_SERVICE)
        assert first.status_code == 201, first.text
        again = await client.post("/proposals", json=body, headers=SOCIAL_SERVICE)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 1
        payload = await _stored_payload(app, body["proposal_id"])
        assert (payload["kind"], payload["origin"]) == ("institution_registration", "social_service")
        assert payload["institution"]["registration_number"] == "AHU-0012345.AH.01.04.Tahun 2019"
        assert [r["nik"] for r in payload["institution"]["residents"]] == [
            "1771010504100001",
            "1771014708120002",
        ]
        assert "household" not in payload or payload["household"] is None
        status = await client.get(f"/proposals/{body['proposal_id']}", headers=SOCIAL_SERVICE)
        assert status.status_code == 200 and status.json()["kind"] == "institution_registration"


async def test_bad_institution_input_is_refused_with_a_named_field_and_nothing_written(
    service: ServiceFactory,
) -> None:
    expired = {"grade": "A", "valid_until": (dt.date.today() - dt.timedelta(days=1)).isoformat()}
    resident = institution_body()["institution"]["residents"][0]
    cases = [
        (
            institution_body(registration_number="AHU-12.AH.01.04.Tahun 2019"),
            "institution.registration_number",
            None,
        ),
        (
            institution_body(accreditation=expired),
            "institution.accreditation.valid_until",
            "accreditation_expired",
        ),
        (
            institution_body(residents=[resident, {**resident}]),
            "institution.residents[1].nik",
            "duplicate_nik",
        ),
        (institution_body(service_type="orphans"), "institution.service_type", None),
    ]
    async with service() as (app, client):
        for body, field, error_type in cases:
            refused = await client.post("/proposals", json=body, headers=SOCIAL_SERVICE)
            assert refused.status_code == 422, refused.text
            problem = refused.json()
            # The record's formats are the contracts' (invalid_request); the door's rules invalid_proposal.
            assert problem["code"] == ("invalid_proposal" if error_type else "invalid_request")
            named = {e["field"]: e["type"] for e in problem["errors"]}
            assert any(f.endswith(field) for f in named), named
            if error_type is not None:
                assert named[field] == error_type
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 0
        assert await count(db, "SELECT count(*) FROM events") == 0


async def test_an_institution_outside_the_operators_region_or_kind_is_refused_and_nothing_written(
    service: ServiceFactory,
) -> None:
    other_regency = headers(Role.REGENCY_OPERATOR, "17.02")  # Rejang Lebong's social service
    own = headers(Role.INSTITUTION_OPERATOR, VILLAGE, institution_id="lks-harapan-bunda")
    change = {**institution_body(kind="institution_change"), "institution_id": "lks-harapan-bunda"}
    async with service() as (app, client):
        outside = await client.post("/proposals", json=institution_body(), headers=other_regency)
        assert (outside.status_code, outside.json()["code"]) == (403, "outside_region")
        village = await client.post("/proposals", json=institution_body(), headers=operator())
        assert (village.status_code, village.json()["code"]) == (403, "kind_not_allowed")
        registration = await client.post("/proposals", json=institution_body(), headers=own)
        assert (registration.status_code, registration.json()["code"]) == (403, "kind_not_allowed")
        other = {**change, "proposal_id": str(uuid.uuid4()), "institution_id": "lks-lain"}
        elsewhere = await client.post("/proposals", json=other, headers=own)
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "other_institution")
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0

        # Its own operator proposes a change of its own institution.
        accepted = await client.post("/proposals", json=change, headers=own)
        assert accepted.status_code == 201, accepted.text
        payload = await _stored_payload(app, change["proposal_id"])
        assert payload["target_institution_id"] == "lks-harapan-bunda"
        assert payload["institution"]["institution_id"] == "lks-harapan-bunda"
        assert payload["submitted_by"]["role"] == "institution_operator"


async def test_a_household_proposal_keeps_its_door_a_deliberation_is_still_required(
    service: ServiceFactory,
) -> None:
    from dtks_proposal.testing import sample_bodies

    body = {k: v for k, v in sample_bodies(1)[0].items() if k != "deliberation"}
    async with service() as (app, client):
        refused = await client.post("/proposals", json=body, headers=operator())
        assert refused.status_code == 422
        assert {e["field"] for e in refused.json()["errors"]} == {"deliberation"}
        mixed = {**sample_bodies(1)[0], "institution_id": "lks-1"}
        refused = await client.post("/proposals", json=mixed, headers=operator())
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "institution_id"
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0


async def test_an_institutions_standing_follows_its_own_tier_path_and_a_return_goes_back_to_its_proposer(
    service: ServiceFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    from dtks_contracts.actor import Actor
    from dtks_contracts.events.verification import Finding, ReturnedAtTier, VerifiedAtTier
    from dtks_contracts.vocabulary import ReasonCode, Tier
    from dtks_proposal.testing import produce
    from dtks_runtime.testing import wait_until

    regency = Actor(subject="dinsos", role=Role.REGENCY_OPERATOR, region=REGENCY)
    province = Actor(subject="prov", role=Role.PROVINCE_VERIFIER, region=VILLAGE[:2])
    async with service() as (_app, client):
        body = institution_body()
        pid = body["proposal_id"]
        first = await client.post("/proposals", json=body, headers=SOCIAL_SERVICE)
        assert first.status_code == 201 and first.json()["waiting_at"] == "regency", first.text

        async def standing() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(f"/proposals/{pid}", headers=SOCIAL_SERVICE)).json()
            return answer

        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                VerifiedAtTier(
                    proposal_id=pid, round=1, village_code=VILLAGE, tier=Tier.REGENCY, verifier=regency
                )
            ],
        )

        async def at_province() -> bool:
            return (await standing()).get("waiting_at") == "province"  # not the regent's decree

        await wait_until(at_province, what="the institution waiting at the province")
        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                ReturnedAtTier(
                    proposal_id=pid,
                    round=1,
                    village_code=VILLAGE,
                    tier=Tier.PROVINCE,
                    returned_by=province,
                    reasons=(Finding.of(ReasonCode.EVIDENCE_MISSING),),
                )
            ],
        )

        async def returned() -> bool:
            return (await standing()).get("status") == "returned"

        await wait_until(returned, what="the institution returned")
        corrected = {**body, "correction_note": "field visit added"}
        del corrected["proposal_id"]
        again = await client.post(f"/proposals/{pid}/resubmissions", json=corrected, headers=SOCIAL_SERVICE)
        assert again.status_code == 201, again.text
        assert (again.json()["round"], again.json()["waiting_at"]) == (2, "regency")


async def test_an_institution_operator_reads_its_own_institutions_proposals_and_no_household_of_its_village(
    service: ServiceFactory,
) -> None:
    from dtks_proposal.testing import sample_bodies

    own = headers(Role.INSTITUTION_OPERATOR, VILLAGE, institution_id="lks-harapan-bunda")
    change = {**institution_body(kind="institution_change"), "institution_id": "lks-harapan-bunda"}
    household = sample_bodies(1)[0]
    async with service() as (_app, client):
        assert (await client.post("/proposals", json=change, headers=own)).status_code == 201
        entered = await client.post("/proposals", json=household, headers=operator())
        assert entered.status_code == 201, entered.text
        mine = await client.get(f"/proposals/{change['proposal_id']}", headers=own)
        assert mine.status_code == 200 and mine.json()["kind"] == "institution_change"
        neighbours = await client.get(f"/proposals/{entered.json()['proposal_id']}", headers=own)
        assert neighbours.status_code == 404
        listing = await client.get("/proposals", headers=own)
        assert (listing.status_code, listing.json()["code"]) == (403, "kind_not_allowed")
        # The social service still reads both, as before.
        assert (
            await client.get(f"/proposals/{change['proposal_id']}", headers=SOCIAL_SERVICE)
        ).status_code == 200


async def test_an_institutions_proposal_reads_determined_once_its_decree_registers_the_institution(
    service: ServiceFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    from dtks_contracts.events.registry import InstitutionRegistered
    from dtks_contracts.institution import Institution
    from dtks_proposal.testing import produce
    from dtks_runtime.testing import wait_until

    async with service() as (_app, client):
        body = institution_body()
        pid = body["proposal_id"]
        first = await client.post("/proposals", json=body, headers=SOCIAL_SERVICE)
        assert first.status_code == 201, first.text
        institution = Institution.model_validate(
            {**body["institution"], "village_code": VILLAGE, "institution_id": "LKS-0001"}
        )
        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                InstitutionRegistered(
                    institution_id="LKS-0001", decree_number="1/HUK/2027", proposal_id=pid,
                    institution=institution,
                )
            ],
        )  # fmt: skip

        async def determined() -> bool:
            answer = (await client.get(f"/proposals/{pid}", headers=SOCIAL_SERVICE)).json()
            return bool(answer.get("status") == "determined")

        await wait_until(determined, what="the institution's proposal determined")
        view = (await client.get(f"/proposals/{pid}", headers=SOCIAL_SERVICE)).json()
        # The decree is named; an institution's id is never taken for a household's.
        assert (view["decree_number"], view["household_id"], view["waiting_at"]) == ("1/HUK/2027", None, None)
        entry = next(e for e in view["timeline"] if e["event"] == "registry.institution_registered")
        assert (entry["institution_id"], entry["decree_number"]) == ("LKS-0001", "1/HUK/2027")
