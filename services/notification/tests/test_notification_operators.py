"""Operators, tiers and households are told, through the inbox, email and SMS (real SMTP, real HTTP)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events import (
    Finding,
    HouseholdDeactivated,
    HouseholdRegistered,
    IntegrityChecked,
    ProposalSubmitted,
    ProposalWithdrawn,
    ReturnedAtTier,
)
from dtks_contracts.household import Deliberation
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_contracts.vocabulary.reasons import REASON_MESSAGES
from dtks_notification.testing import (
    OTHER_VILLAGE,
    VILLAGE,
    HttpReceiver,
    envelope,
    household,
    produce,
    village_operator,
)
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

OPERATOR_A = "op-pagar-dewa"
OPERATOR_B = "op-sukarami"
MINISTRY = (Role.MINISTRY_VERIFIER, "ID")


async def _no_pending(svc) -> bool:
    return await svc.count("SELECT count(*) FROM deliveries WHERE status = 'pending'") == 0


async def test_a_returned_proposal_reaches_its_operator_inbox_and_email_and_nobody_else(
    service, smtp, kafka_bootstrap, topic_prefix
):
    async with service(smtp_host="127.0.0.1", smtp_port=smtp.port) as svc:
        a = svc.token(Role.VILLAGE_OPERATOR, VILLAGE, OPERATOR_A)
        b = svc.token(Role.VILLAGE_OPERATOR, OTHER_VILLAGE, OPERATOR_B)
        # An operator sets their own entry; the Ministry seeds another's.
        r = await svc.client.put(
            "/directory",
            headers=a,
            json={
                "role": "village_operator",
                "region": VILLAGE,
                "subject": OPERATOR_A,
                "email": "a@pagardewa.desa.id",
            },
        )
        assert r.status_code == 200, r.text
        r = await svc.client.put(
            "/directory",
            headers=a,
            json={
                "role": "village_operator",
                "region": OTHER_VILLAGE,
                "subject": OPERATOR_B,
                "email": "b@sukarami.desa.id",
            },
        )
        assert r.status_code == 403 and r.json()["code"] == "directory_entry_not_yours"
        r = await svc.client.put(
            "/directory",
            headers=svc.token(*MINISTRY),
            json={
                "role": "village_operator",
                "region": OTHER_VILLAGE,
                "subject": OPERATOR_B,
                "email": "b@sukarami.desa.id",
            },
        )
        assert r.status_code == 200, r.text

        submitted = ProposalSubmitted(
            proposal_id="p-1",
            round=1,
            kind="new_household",
            origin="village",
            village_code=VILLAGE,
            deliberation=Deliberation(kind="musdes", date=dt.date(2025, 1, 20), minutes_ref="m.pdf"),
            household=household(),
            submitted_by=village_operator(subject=OPERATOR_A),
        )
        returned = ReturnedAtTier(
            proposal_id="p-1",
            round=1,
            village_code=VILLAGE,
            tier="district",
            returned_by=Actor(subject="camat", role=Role.DISTRICT_VERIFIER, region="17.71.01"),
            reasons=(Finding.of(ReasonCode.EVIDENCE_MISSING, detail="No roof photo."),),
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(submitted), envelope(returned, version=2)])

        await wait_until(lambda: _has(smtp.to("a@pagardewa.desa.id")), what="the operator's email")
        await wait_until(lambda: _no_pending(svc), what="every delivery sent")
        [mail] = smtp.messages
        assert mail["To"] == "a@pagardewa.desa.id"
        assert "p-1 returned at the district tier" in mail["Subject"]
        text = mail.get_payload(decode=True).decode()
        assert REASON_MESSAGES[ReasonCode.EVIDENCE_MISSING] in text and "No roof photo." in text

        inbox = (await svc.client.get("/inbox", headers=a)).json()
        assert [i["rule"] for i in inbox["items"]] == ["proposal_returned"] and inbox["unread"] == 1
        assert (await svc.client.get("/inbox", headers=b)).json() == {"items": [], "unread": 0}
        # The village's other operator reads the same item; read marks are per reader.
        colleague = svc.token(Role.VILLAGE_OPERATOR, VILLAGE, "op-pagar-dewa-2")
        item_id = inbox["items"][0]["notification_id"]
        assert (await svc.client.post(f"/inbox/{item_id}/read", headers=b)).status_code == 404
        read = await svc.client.post(f"/inbox/{item_id}/read", headers=a)
        assert read.status_code == 200 and read.json()["read_at"] is not None
        assert (await svc.client.get("/inbox", headers=a)).json()["unread"] == 0
        assert (await svc.client.get("/inbox?unread_only=true", headers=colleague)).json()["unread"] == 1

        # The email's outcome is an event in the outbox, one per attempt.
        async with svc.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT event_type, envelope->'payload' AS p FROM events ORDER BY position"
            )
        assert [r["event_type"] for r in rows] == ["notification.delivered"]
        payload = json.loads(rows[0]["p"])
        assert payload["channel"] == "email" and payload["recipient"] == "a@pagardewa.desa.id"
        assert payload["delivery_id"] == mail["X-DTKS-Delivery-Id"]


async def _has(items: list) -> bool:
    return bool(items)


async def test_queue_arrivals_are_collected_into_one_digest_per_tier_and_region(
    service, smtp, kafka_bootstrap, topic_prefix
):
    async with service(smtp_host="127.0.0.1", smtp_port=smtp.port) as svc:
        await svc.client.put(
            "/directory",
            headers=svc.token(*MINISTRY),
            json={"role": "district_verifier", "region": "17.71.01", "email": "selebar@kecamatan.go.id"},
        )
        checks = [
            IntegrityChecked(proposal_id=f"p-{i:02}", round=1, village_code=v, stage="entry", passed=True)
            for i, v in enumerate([VILLAGE, OTHER_VILLAGE] * 6 + ["17.71.02.1001"] * 3)
        ]
        await produce(kafka_bootstrap, topic_prefix, [envelope(c) for c in checks])
        arrivals = "SELECT count(*) FROM queue_arrivals"
        await wait_until(lambda: _equals(svc.count(arrivals), 15), what="15 queue arrivals")
        # A withdrawn proposal leaves every queue before the digest tells anyone about it.
        withdrawn = ProposalWithdrawn(
            proposal_id="p-00",
            round=1,
            village_code=VILLAGE,
            withdrawn_by=village_operator(),
            reason="Family moved before verification.",
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(withdrawn, version=2)])
        await wait_until(lambda: _equals(svc.count(arrivals), 14), what="the withdrawal")

        assert await svc.app.state.digests.run_once() == 2
        assert await svc.app.state.digests.run_once() == 0  # each arrival is told once
        selebar = (
            await svc.client.get("/inbox", headers=svc.token(Role.DISTRICT_VERIFIER, "17.71.01"))
        ).json()
        [digest] = selebar["items"]
        assert digest["title"].startswith("11 new proposals wait at the district tier")
        assert "p-00" not in digest["body"] and "p-01" in digest["body"]
        gading = (
            await svc.client.get("/inbox", headers=svc.token(Role.DISTRICT_VERIFIER, "17.71.02"))
        ).json()
        assert gading["items"][0]["title"].startswith("3 new proposals")
        await wait_until(lambda: _has(smtp.to("selebar@kecamatan.go.id")), what="the digest email")
        await wait_until(lambda: _no_pending(svc), what="every delivery sent")
        assert len(smtp.messages) == 1


async def _equals(value, expected: int) -> bool:
    return await value == expected


async def test_households_with_consent_are_texted_when_they_enter_and_leave_the_register(
    service, receivers, kafka_bootstrap, topic_prefix
):
    gateway = await HttpReceiver().start()
    receivers.append(gateway)
    async with service(sms_gateway_url=gateway.url) as svc:
        phone = "+6281234567890"
        events = [
            envelope(
                HouseholdRegistered(
                    household_id="h-1",
                    decree_number="D-1",
                    proposal_id="p-1",
                    household=household("h-1", phone=phone, consent=True),
                )
            ),
            envelope(
                HouseholdRegistered(
                    household_id="h-2",
                    decree_number="D-1",
                    proposal_id="p-2",
                    household=household("h-2", phone="+6289999999999", consent=False),
                )
            ),
        ]
        await produce(kafka_bootstrap, topic_prefix, events)
        await wait_until(lambda: _has(gateway.requests), what="the entry SMS")
        left = HouseholdDeactivated(
            household_id="h-1",
            decree_number="D-2",
            kk_number="1771010101200001",
            reason="moved_away",
            proposal_id="p-3",
        )
        await produce(kafka_bootstrap, topic_prefix, [envelope(left, version=2)])
        await wait_until(lambda: _equals(_len(gateway), 2), what="the leaving SMS")
        await wait_until(lambda: _no_pending(svc), what="every delivery sent")
        sms = [json.loads(r.body) for r in gateway.requests]
        assert [s["to"] for s in sms] == [phone, phone]
        assert "now in the social welfare register" in sms[0]["message"]
        assert "left the social welfare register" in sms[1]["message"]
        assert sms[0]["reference"] != sms[1]["reference"]
        # The village operators were told of all three determinations in their inbox.
        inbox = (await svc.client.get("/inbox", headers=svc.token(Role.VILLAGE_OPERATOR, VILLAGE))).json()
        assert len(inbox["items"]) == 3


async def _len(receiver: HttpReceiver) -> int:
    return len(receiver.requests)
