"""Agency subscriptions: signed webhooks, retries with backoff, dead letters and replay (real HTTP)."""

from __future__ import annotations

import asyncio
import json

import pytest

from dtks_contracts.events import HouseholdRegistered
from dtks_contracts.vocabulary import Role
from dtks_notification.domain import signing
from dtks_notification.testing import DROP, HttpReceiver, Received, envelope, household, produce
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

SECRET = "bpjs-shared-secret-0123456789"


def _registered(household_id: str = "h-1") -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household_id,
        decree_number="D-1",
        proposal_id=f"p-{household_id}",
        household=household(household_id, phone="+6281234567890", programs=["PBI_JK"]),
    )


async def _subscribe(svc, agency_headers, url: str, **filters) -> str:
    body = {
        "callback_url": url,
        "secret": SECRET,
        "event_types": ["registry.household_registered"],
        **filters,
    }
    r = await svc.client.post("/subscriptions", headers=agency_headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["subscription_id"]


async def _deliveries(svc, headers, sid: str) -> list[dict]:
    r = await svc.client.get(f"/subscriptions/{sid}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _delivered(svc, headers, sid: str, what: str) -> dict:
    """Waits until the subscription's one delivery is delivered, and returns it with its log."""

    async def delivered() -> bool:
        found = await _deliveries(svc, headers, sid)
        return bool(found) and found[0]["status"] == "delivered"

    await wait_until(delivered, what=what)
    [delivery] = await _deliveries(svc, headers, sid)
    return delivery


async def test_a_receiver_failing_three_times_then_succeeding_gets_the_delivery_once_signed(
    service, receivers, kafka_bootstrap, topic_prefix
):
    async def three_failures(_: Received, index: int) -> int:
        return 500 if index < 3 else 200

    receiver = await HttpReceiver(three_failures).start()
    receivers.append(receiver)
    async with service(notification_max_attempts=5) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan", programs=("PBI_JK",))
        other = svc.token(Role.AGENCY, "ID", "kemendikbud")
        sid = await _subscribe(svc, bpjs, receiver.url, regions=["17.71"])
        # Another agency neither sees nor deletes it.
        assert (await svc.client.get(f"/subscriptions/{sid}", headers=other)).status_code == 404
        assert (await svc.client.delete(f"/subscriptions/{sid}", headers=other)).status_code == 404
        assert (await svc.client.get(f"/subscriptions/{sid}/deliveries", headers=other)).status_code == 404
        assert "secret" not in (await svc.client.get(f"/subscriptions/{sid}", headers=bpjs)).json()

        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        delivery = await _delivered(svc, bpjs, sid, "the delivery to succeed")
        assert [a["outcome"] for a in delivery["log"]] == ["failed"] * 3 + ["delivered"]
        assert delivery["log"][0]["error"] == "5xx"  # the status class only

        assert len(receiver.requests) == 4
        assert {r.headers[signing.DELIVERY_ID_HEADER.lower()] for r in receiver.requests} == {
            delivery["delivery_id"]
        }
        assert len({r.body for r in receiver.requests}) == 1  # every retry carries the same bytes
        for r in receiver.requests:
            assert signing.verify(
                SECRET,
                r.headers[signing.TIMESTAMP_HEADER.lower()],
                r.body,
                r.headers[signing.SIGNATURE_HEADER.lower()],
            )
            assert not signing.verify(
                "wrong-secret-0123456789",
                r.headers[signing.TIMESTAMP_HEADER.lower()],
                r.body,
                r.headers[signing.SIGNATURE_HEADER.lower()],
            )
        body = json.loads(receiver.requests[-1].body)
        assert body["delivery_id"] == delivery["delivery_id"]
        assert body["event"]["event_type"] == "registry.household_registered"
        assert "contact" not in body["event"]["payload"]["household"]  # the family's phone stays with us

        async with svc.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT event_type, stream_version, envelope->'payload' AS p FROM events
                   WHERE envelope->'payload'->>'channel' = 'webhook' ORDER BY position"""
            )
        outcomes = [
            (r["event_type"], r["stream_version"], json.loads(r["p"]).get("will_retry")) for r in rows
        ]
        assert outcomes == [
            ("notification.failed", 1, True),
            ("notification.failed", 2, True),
            ("notification.failed", 3, True),
            ("notification.delivered", 4, None),
        ]


async def test_a_receiver_that_never_succeeds_is_dead_lettered_then_replayed(
    service, receivers, kafka_bootstrap, topic_prefix
):
    healthy = asyncio.Event()

    async def down_until_fixed(_: Received, __: int) -> int:
        return 200 if healthy.is_set() else 503

    receiver = await HttpReceiver(down_until_fixed).start()
    receivers.append(receiver)
    async with service(notification_max_attempts=3) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        other = svc.token(Role.AGENCY, "ID", "kemendikbud")
        sid = await _subscribe(svc, bpjs, receiver.url)
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])

        async def dead() -> bool:
            return bool((await svc.client.get("/dead-letters", headers=bpjs)).json())

        await wait_until(dead, what="the dead letter")
        [letter] = (await svc.client.get("/dead-letters", headers=bpjs)).json()
        assert letter["status"] == "dead" and letter["attempts"] == 3 and len(receiver.requests) == 3
        assert (await svc.client.get("/dead-letters", headers=other)).json() == []
        assert (await svc.client.get("/dead-letters", headers=svc.token(Role.MINISTRY_VERIFIER, "ID"))).json()
        assert (
            await svc.client.get("/dead-letters", headers=svc.token(Role.AUDITOR, "ID"))
        ).status_code == 403
        assert len(receiver.requests) == 3  # parked: nothing more is sent on its own

        delivery_id = letter["delivery_id"]
        assert (
            await svc.client.post(f"/dead-letters/{delivery_id}/replay", headers=other)
        ).status_code == 404
        healthy.set()
        replay = await svc.client.post(f"/dead-letters/{delivery_id}/replay", headers=bpjs)
        assert replay.status_code == 202, replay.text

        delivery = await _delivered(svc, bpjs, sid, "the replayed delivery")
        assert [a["outcome"] for a in delivery["log"]] == ["failed"] * 3 + ["delivered"]
        assert {r.headers[signing.DELIVERY_ID_HEADER.lower()] for r in receiver.requests} == {delivery_id}
        again = await svc.client.post(f"/dead-letters/{delivery_id}/replay", headers=bpjs)
        assert again.status_code == 409 and again.json()["code"] == "delivery_not_dead"
        async with svc.pool.acquire() as conn:
            last_failure = await conn.fetchval(
                """SELECT envelope->'payload'->>'will_retry' FROM events
                   WHERE event_type = 'notification.failed' ORDER BY position DESC LIMIT 1"""
            )
        assert last_failure == "false"


async def test_a_connection_closed_without_answer_is_sent_again_once_before_the_attempt_fails(
    service, receivers, kafka_bootstrap, topic_prefix
):
    async def two_drops(_: Received, index: int) -> int:
        return DROP if index < 2 else 200

    receiver = await HttpReceiver(two_drops).start()
    receivers.append(receiver)
    async with service() as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        sid = await _subscribe(svc, bpjs, receiver.url)
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        delivery = await _delivered(svc, bpjs, sid, "the delivery to succeed")
        # The first attempt sent twice (the second time on a new connection), both dropped: one
        # failed attempt; the retry after backoff delivers.
        assert [a["outcome"] for a in delivery["log"]] == ["failed", "delivered"]
        # The log does not say how the connection failed (that would tell open ports from closed).
        assert delivery["log"][0]["error"] == "connection failed"
        assert len(receiver.requests) == 3
        assert {r.headers[signing.DELIVERY_ID_HEADER.lower()] for r in receiver.requests} == {
            delivery["delivery_id"]
        }


async def test_subscriptions_are_for_agencies_within_their_grant(service, receivers):
    async with service() as svc:
        body = {"callback_url": "http://127.0.0.1:9/hook", "secret": SECRET}
        operator = svc.token(Role.VILLAGE_OPERATOR, "17.71.01.1001")
        assert (await svc.client.post("/subscriptions", headers=operator, json=body)).status_code == 403
        regional = svc.token(Role.AGENCY, "17", "dinkes-bengkulu", programs=("PBI_JK",))
        refused = await svc.client.post("/subscriptions", headers=regional, json={**body, "regions": ["18"]})
        assert refused.status_code == 403 and refused.json()["code"] == "region_outside_grant"
        refused = await svc.client.post(
            "/subscriptions", headers=regional, json={**body, "programs": ["PKH"]}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "program_not_granted"
        refused = await svc.client.post(
            "/subscriptions",
            headers=regional,
            json={**body, "event_types": ["verification.returned_at_tier"]},
        )
        assert refused.status_code == 422 and refused.json()["code"] == "event_type_not_public"
        short = await svc.client.post("/subscriptions", headers=regional, json={**body, "secret": "short"})
        assert short.status_code == 422
        created = await svc.client.post("/subscriptions", headers=regional, json=body)
        assert created.status_code == 201
        sub = created.json()
        assert sub["regions"] == ["17"] and sub["programs"] == ["PBI_JK"]
        assert [
            s["subscription_id"] for s in (await svc.client.get("/subscriptions", headers=regional)).json()
        ] == [sub["subscription_id"]]
        deleted = await svc.client.delete(f"/subscriptions/{sub['subscription_id']}", headers=regional)
        assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None


async def test_a_subscribed_agency_receives_an_institutions_registration_with_its_residents_masked(
    service, receivers, kafka_bootstrap, topic_prefix
):
    from dtks_contracts.events import InstitutionRegistered

    institution = _institution("LKS-0001", "17.71.01.1001")
    registered = InstitutionRegistered(
        institution_id="LKS-0001", decree_number="D-1", proposal_id="p-lks", institution=institution
    )
    elsewhere = _institution("LKS-0002", "17.71.02.1001")  # another district
    outside = InstitutionRegistered(
        institution_id="LKS-0002", decree_number="D-1", proposal_id="p-lks-2", institution=elsewhere
    )
    receiver = await HttpReceiver().start()
    receivers.append(receiver)
    async with service() as svc:
        dinsos = svc.token(Role.AGENCY, "17.71", "dinsos-bengkulu")
        sid = await _subscribe(
            svc, dinsos, receiver.url, event_types=["registry.institution_registered"], regions=["17.71.01"]
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(outside), envelope(registered)])
        await _delivered(svc, dinsos, sid, "the institution's registration delivered")
        await asyncio.sleep(1)  # the other district's institution, had it matched, would be sent too
        assert len(receiver.requests) == 1
        body = json.loads(receiver.requests[0].body)
        assert body["event"]["event_type"] == "registry.institution_registered"
        sent = body["event"]["payload"]["institution"]
        assert sent["name"] == institution.name and sent["capacity"] == institution.capacity
        # Residents as an agency reads them anywhere (GET /institutions): NIK and name masked.
        assert [(r["nik"], r["name"]) for r in sent["residents"]] == [
            ("177101**********", "A*** P******"),
            ("177101**********", "P**** L******"),
        ]


def _institution(institution_id: str, village: str):
    from dtks_contracts.institution import Institution

    return Institution.model_validate(
        {
            "institution_id": institution_id, "name": "LKSA Harapan Bunda", "legal_form": "foundation",
            "registration_number": "AHU-0012345.AH.01.04.Tahun 2019", "service_type": "children",
            "address": {"street": "Jl. Pagar Dewa No. 21"}, "village_code": village, "head": "Nurhayati",
            "capacity": 40, "contact": {"phone": "+6273621234"}, "bank_account_ref": "bank-ref:lksa",
            "licence": {"number": "1/2024", "issued_by": village[:5], "issued_on": "2024-02-01"},
            "residents": [
                {"nik": "1771010504100001", "name": "Andi Pratama", "birth_date": "2010-04-05",
                 "admitted_on": "2019-01-14"},
                {"nik": "1771014708120002", "name": "Putri Lestari", "birth_date": "2012-08-07",
                 "admitted_on": "2020-07-01"},
            ],
        }
    )  # fmt: skip


async def test_a_regional_agency_subscribed_to_decrees_receives_the_assistance_each_institution_is_to_get(
    service, receivers, kafka_bootstrap, topic_prefix
):
    # The decree's own event lists the assistance (#19): institution, program, period, basis and the
    # residents counted, no person named, so nothing in it is masked; it reaches every subscription
    # to decrees whatever its regions, as the decree's households do.
    from dtks_contracts.events.registry import DeterminationIssued

    aid = {
        "proposal_id": "p-aid", "institution_id": "LKS-0001", "program": "ATENSI", "starts_on": "2027-04-01",
        "ends_on": "2027-06-30", "basis": "per_resident", "residents_counted": 2,
    }  # fmt: skip
    decree = DeterminationIssued.model_validate(
        {
            "decree_number": "2/HUK/2027", "period": {"year": 2027, "quarter": 2},
            "cut_off": "2027-03-31T16:59:59Z", "issued_at": "2027-04-02T00:00:00Z",
            "register_hash": "ab" * 32, "hash_algorithm": "dtks-register-merkle-v1",
            "counts": {"households": 0, "people": 0},
            "issued_by": {"subject": "determiner", "role": "ministry_determiner", "region": "ID"},
            "institution_assistance": [aid],
        }
    )  # fmt: skip
    receiver = await HttpReceiver().start()
    receivers.append(receiver)
    async with service() as svc:
        dinsos = svc.token(Role.AGENCY, "17.71", "dinsos-bengkulu")
        sid = await _subscribe(
            svc, dinsos, receiver.url, event_types=["registry.determination_issued"], regions=["17.71.01"]
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(decree)])
        await _delivered(svc, dinsos, sid, "the decree delivered")
        body = json.loads(receiver.requests[0].body)
        assert body["event"]["event_type"] == "registry.determination_issued"
        assert body["event"]["payload"]["institution_assistance"] == [aid]
        r = receiver.requests[0]
        assert signing.verify(
            SECRET,
            r.headers[signing.TIMESTAMP_HEADER.lower()],
            r.body,
            r.headers[signing.SIGNATURE_HEADER.lower()],
        )


async def test_each_assistance_reaches_only_the_agencies_whose_regions_hold_its_institution(
    service, receivers, kafka_bootstrap, topic_prefix
):
    # One event per assistance the decree determined (#19), keyed to the institution's village: a
    # district's social service is sent what its institutions are to receive, not every region's.
    from dtks_contracts.events.registry import InstitutionAssistanceDetermined
    from dtks_contracts.institution import DeterminedAssistance

    def determined(proposal_id: str, institution_id: str, village: str) -> InstitutionAssistanceDetermined:
        aid = DeterminedAssistance(
            proposal_id=proposal_id, institution_id=institution_id, program="ATENSI", starts_on="2027-04-01",
            ends_on="2027-06-30", basis="per_resident", residents_counted=2,
        )  # fmt: skip
        return InstitutionAssistanceDetermined(
            institution_id=institution_id, decree_number="2/HUK/2027", proposal_id=proposal_id,
            village_code=village, assistance=aid,
        )  # fmt: skip

    here = determined("p-aid-1", "LKS-0001", "17.71.01.1001")
    elsewhere = determined("p-aid-2", "LKS-0002", "17.71.02.1001")  # another district
    receiver = await HttpReceiver().start()
    receivers.append(receiver)
    async with service() as svc:
        dinsos = svc.token(Role.AGENCY, "17.71", "dinsos-bengkulu")
        sid = await _subscribe(
            svc,
            dinsos,
            receiver.url,
            event_types=["registry.institution_assistance_determined"],
            regions=["17.71.01"],
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(elsewhere), envelope(here)])
        await _delivered(svc, dinsos, sid, "the institution's assistance delivered")
        await asyncio.sleep(1)  # the other district's assistance, had it matched, would be sent too
        assert len(receiver.requests) == 1
        body = json.loads(receiver.requests[0].body)
        assert body["event"]["event_type"] == "registry.institution_assistance_determined"
        assert body["event"]["payload"]["assistance"]["proposal_id"] == "p-aid-1"
        assert body["event"]["payload"]["village_code"] == "17.71.01.1001"
        r = receiver.requests[0]
        assert signing.verify(
            SECRET,
            r.headers[signing.TIMESTAMP_HEADER.lower()],
            r.body,
            r.headers[signing.SIGNATURE_HEADER.lower()],
        )
