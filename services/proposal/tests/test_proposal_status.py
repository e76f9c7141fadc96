"""The status read model fed by real verification and registry events on Kafka; resubmission only
after a return; withdrawal only before the Ministry decided."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.events.verification import (
    AcceptedByMinistry,
    BatchRatified,
    Finding,
    IntegrityChecked,
    ReturnedAtTier,
    SentBackForCorrection,
    VerifiedAtTier,
)
from dtks_contracts.household import Household
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_contracts.vocabulary.reasons import ReasonCode
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import IntegrityStage, Tier
from dtks_proposal.testing import VILLAGE, operator, produce, sample_bodies
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

BODIES = sample_bodies(3, seed=7)
DISTRICT = Actor(subject="verifier@17.71.01", role=Role.DISTRICT_VERIFIER, region="17.71.01")


async def _status_is(client: Any, pid: str, status: str, rounds: int | None = None) -> bool:
    view = (await client.get(f"/proposals/{pid}", headers=operator())).json()
    return view["status"] == status and (rounds is None or view["round"] == rounds)


async def test_the_timeline_follows_verification_and_a_returned_proposal_alone_is_resubmitted(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    body = {**BODIES[0], "proposal_id": str(uuid.uuid4())}
    pid = body["proposal_id"]
    async with service() as (_app, client):
        assert (await client.post("/proposals", json=body, headers=operator())).status_code == 201
        early = await client.post(f"/proposals/{pid}/resubmissions", json=body, headers=operator())
        assert early.status_code == 409 and early.json()["code"] == "proposal_not_returned"

        finding = Finding.of(ReasonCode.NAME_MISMATCH, field_path="household.members[0].name")
        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                IntegrityChecked(
                    proposal_id=pid, round=1, village_code=VILLAGE, stage=IntegrityStage.ENTRY, passed=True
                ),
                ReturnedAtTier(
                    proposal_id=pid,
                    round=1,
                    village_code=VILLAGE,
                    tier=Tier.DISTRICT,
                    returned_by=DISTRICT,
                    reasons=(finding,),
                    note="check the head's name against the KK",
                ),
            ],
        )
        await wait_until(lambda: _status_is(client, pid, "returned"), what="returned status")
        view = (await client.get(f"/proposals/{pid}", headers=operator())).json()
        assert view["waiting_at"] == "village"
        returned = view["timeline"][-1]
        assert returned["event"] == "verification.returned_at_tier" and returned["tier"] == "district"
        assert (
            returned["reasons"][0]["code"] == "NAME_MISMATCH"
            and returned["actor"]["subject"] == DISTRICT.subject
        )
        assert [e["event"] for e in view["timeline"]] == [
            "proposal.submitted",
            "verification.integrity_checked",
            "verification.returned_at_tier",
        ]

        other_village = await client.post(
            f"/proposals/{pid}/resubmissions", json=body, headers=operator("17.71.01.1001")
        )
        assert other_village.status_code == 403
        corrected = {**body, "correction_note": "head's name as on the KK"}
        again = await client.post(f"/proposals/{pid}/resubmissions", json=corrected, headers=operator())
        assert again.status_code == 201 and again.json()["round"] == 2, again.text
        twice = await client.post(f"/proposals/{pid}/resubmissions", json=corrected, headers=operator())
        assert twice.status_code == 409

        household = Household.model_validate({**body["household"], "household_id": "HH-1"})
        accepted_at = dt.datetime.now(dt.UTC)
        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                VerifiedAtTier(
                    proposal_id=pid, round=2, village_code=VILLAGE, tier=Tier.DISTRICT, verifier=DISTRICT
                ),
                AcceptedByMinistry(
                    proposal_id=pid,
                    round=2,
                    village_code=VILLAGE,
                    kind=ProposalKind.NEW_HOUSEHOLD,
                    household=household.model_copy(update={"household_id": None}),
                    accepted_at=accepted_at,
                ),
            ],
        )
        await wait_until(lambda: _status_is(client, pid, "accepted", 2), what="accepted status")
        withdraw = await client.post(
            f"/proposals/{pid}/withdrawal", json={"reason": "family moved"}, headers=operator()
        )
        assert withdraw.status_code == 409 and withdraw.json()["code"] == "proposal_decided"

        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                HouseholdRegistered(
                    household_id="HH-1", decree_number="SK-1/2027", household=household, proposal_id=pid
                )
            ],
        )
        await wait_until(lambda: _status_is(client, pid, "determined"), what="determined status")
        view = (await client.get(f"/proposals/{pid}", headers=operator())).json()
        assert view["household_id"] == "HH-1" and view["decree_number"] == "SK-1/2027"
        assert len(view["timeline"]) == 7

        listing = await client.get("/proposals", params={"status": "determined"}, headers=operator())
        assert [p["proposal_id"] for p in listing.json()["items"]] == [pid]


async def test_a_ministry_integrity_failure_waits_at_the_regency_and_the_village_cannot_resubmit_it(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    body = {**BODIES[1], "proposal_id": str(uuid.uuid4())}
    pid = body["proposal_id"]
    async with service() as (_app, client):
        assert (await client.post("/proposals", json=body, headers=operator())).status_code == 201
        common = {"proposal_id": pid, "round": 1, "village_code": VILLAGE}
        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                IntegrityChecked(**common, stage=IntegrityStage.ENTRY, passed=True),
                VerifiedAtTier(**common, tier=Tier.DISTRICT, verifier=DISTRICT),
                SentBackForCorrection(
                    **common, tier=Tier.MINISTRY, to_tier=Tier.REGENCY,
                    reasons=(Finding.of(ReasonCode.NIK_ALREADY_REGISTERED),),
                ),
            ],
        )  # fmt: skip

        async def at_regency() -> bool:
            view = (await client.get(f"/proposals/{pid}", headers=operator())).json()
            return bool(view["timeline"][-1]["event"] == "verification.sent_back_for_correction")

        await wait_until(at_regency, what="the send-back in the timeline")
        view = (await client.get(f"/proposals/{pid}", headers=operator())).json()
        assert (view["status"], view["waiting_at"]) == ("in_verification", "regency")
        entry = view["timeline"][-1]
        assert entry["tier"] == "ministry" and entry["reasons"][0]["code"] == "NIK_ALREADY_REGISTERED"
        refused = await client.post(f"/proposals/{pid}/resubmissions", json=body, headers=operator())
        assert refused.status_code == 409 and refused.json()["code"] == "proposal_not_returned"


async def test_withdrawal_is_once_and_listing_pages_with_a_cursor(service: Any) -> None:
    async with service() as (_app, client):
        ids = []
        for body in BODIES:
            answer = await client.post(
                "/proposals", json={**body, "proposal_id": str(uuid.uuid4())}, headers=operator()
            )
            ids.append(answer.json()["proposal_id"])
        pid = ids[0]
        first = await client.post(
            f"/proposals/{pid}/withdrawal", json={"reason": "duplicate entry"}, headers=operator()
        )
        assert first.status_code == 200 and first.json()["status"] == "withdrawn"
        again = await client.post(
            f"/proposals/{pid}/withdrawal", json={"reason": "duplicate entry"}, headers=operator()
        )
        assert again.json() == first.json()
        body = {**BODIES[0], "proposal_id": pid}
        resubmit = await client.post(f"/proposals/{pid}/resubmissions", json=body, headers=operator())
        assert resubmit.status_code == 409 and resubmit.json()["code"] == "proposal_not_returned"

        district = {"Authorization": operator()["Authorization"]}
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/proposals", params=params, headers=district)).json()
            seen += [p["proposal_id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))
        outside = await client.get("/proposals", params={"region": "17.71.02"}, headers=operator())
        assert outside.status_code == 403


async def test_one_batch_of_many_proposals_events_moves_each_in_its_own_order(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The consumer folds a whole batch at once: each proposal must still end where its own events,
    in their order, lead, and a ratification over several proposals reaches each timeline."""
    regent = Actor(subject="walikota", role=Role.REGENT, region="17.71")
    async with service() as (_app, client):
        ids = []
        for body in BODIES:
            answer = await client.post(
                "/proposals", json={**body, "proposal_id": str(uuid.uuid4())}, headers=operator()
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["proposal_id"])
        forwarded, returned, ratified = ids

        def at(pid: str, tier: Tier) -> VerifiedAtTier:
            return VerifiedAtTier(
                proposal_id=pid, round=1, village_code=VILLAGE, tier=tier, verifier=DISTRICT
            )

        await produce(
            kafka_bootstrap,
            topic_prefix,
            [
                at(forwarded, Tier.DISTRICT),
                at(returned, Tier.DISTRICT),
                at(ratified, Tier.DISTRICT),
                at(forwarded, Tier.REGENCY),
                ReturnedAtTier(
                    proposal_id=returned, round=1, village_code=VILLAGE, tier=Tier.REGENCY,
                    returned_by=DISTRICT, reasons=(Finding.of(ReasonCode.NAME_MISMATCH),), note="name",
                ),
                at(ratified, Tier.REGENCY),
                BatchRatified(
                    batch_id="batch-1", regency_code="17.71", decree_number="7/2027",
                    decree_date=dt.date(2027, 1, 5), proposal_ids=(forwarded, ratified), ratified_by=regent,
                ),
            ],
        )  # fmt: skip
        views: dict[str, Any] = {}

        async def all_applied() -> bool:
            for pid in ids:
                views[pid] = (await client.get(f"/proposals/{pid}", headers=operator())).json()
            return views[returned]["status"] == "returned" and all(
                len(views[pid]["timeline"]) == 4 for pid in (forwarded, ratified)
            )

        await wait_until(all_applied, what="every proposal's events")
        assert views[returned]["waiting_at"] == "village"
        assert [e["event"] for e in views[returned]["timeline"]] == [
            "proposal.submitted",
            "verification.verified_at_tier",
            "verification.returned_at_tier",
        ]
        for pid in (forwarded, ratified):
            assert views[pid]["status"] == "in_verification"
            assert views[pid]["waiting_at"] == Tier.RATIFICATION.value
            assert [(e["event"], e["tier"]) for e in views[pid]["timeline"]] == [
                ("proposal.submitted", None),
                ("verification.verified_at_tier", "district"),
                ("verification.verified_at_tier", "regency"),
                ("verification.batch_ratified", None),
            ]
