"""The citizens' check and the audit history, against the real broker and database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events.governance import ItemsOverdue, OverdueGroup
from dtks_contracts.events.notification import NotificationDelivered
from dtks_contracts.events.proposal import ProposalResubmitted, ProposalSubmitted
from dtks_contracts.events.verification import Finding, IntegrityChecked, ReturnedAtTier, VerifiedAtTier
from dtks_contracts.household import Deliberation
from dtks_contracts.vocabulary.reasons import ReasonCode
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import IntegrityStage, Tier
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, envelope, make_household, nik, produce
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


async def test_the_citizens_check_does_not_reveal_whether_a_nik_exists_to_someone_with_the_wrong_name(
    registry,
):
    household = make_household(1, head_name="Siti Aminah")
    await registry.accept([acceptance("prop-citizen", accepted_at=ago(2), household=household)])
    assert (await registry.decree("3/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201
    head = household.members[0].nik

    async def check(nik_: str, name: str):
        return await registry.client.get("/public/registration-status", params={"nik": nik_, "name": name})

    found = (await check(head, "  SITI aminah")).json()
    assert found == {"nik": head[:6] + "*" * 10, "name": "S*** A*****", "registered": True, "programs": ["PKH"],
                     "as_of_decree": "3/HUK/2027"}  # fmt: skip
    wrong_name = await check(head, "Rina Wati")
    unknown_nik = await check(nik(9999, female=True), "Rina Wati")
    assert wrong_name.status_code == unknown_nik.status_code == 200
    assert wrong_name.json() == unknown_nik.json()  # nothing tells the two apart
    assert wrong_name.json()["registered"] is False and wrong_name.json()["programs"] == []
    assert (await check("12345", "Rina Wati")).status_code == 422
    # Three checks counted so far (the malformed one never reached the limiter); the burst is 6.
    statuses = [(await check(head, "Siti Aminah")).status_code for _ in range(3)]
    limited = await check(head, "Siti Aminah")
    assert (
        statuses == [200, 200, 200]
        and limited.status_code == 429
        and int(limited.headers["retry-after"]) >= 1
    )
    assert limited.json()["code"] == "too_many_requests"


async def test_the_audit_history_of_a_returned_and_resubmitted_household_shows_every_round(registry):
    pid = f"prop-{uuid.uuid4().hex[:8]}"
    household = make_household(7)
    village = household.village_code
    t = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    operator = Actor(subject="op-1", role=Role.VILLAGE_OPERATOR, region=village)
    # The officers as the identity provider knows them: a user id and the person's name.
    district = Actor(subject="kec-1", role=Role.DISTRICT_VERIFIER, region=village[:8], name="Budi Santoso")
    regency = Actor(subject="dinsos-1", role=Role.REGENCY_OPERATOR, region=village[:5], name="Rina Marlina")
    deliberation = Deliberation(kind="muskel", date=dt.date(2026, 11, 2), minutes_ref="docs/muskel.pdf")
    content = dict(proposal_id=pid, kind="new_household", origin="village", village_code=village,
                   deliberation=deliberation, household=household, submitted_by=operator)  # fmt: skip

    def at(minutes: int) -> dt.datetime:
        return t + dt.timedelta(minutes=minutes)

    submitted = envelope(ProposalSubmitted(round=1, **content), actor=operator, occurred_at=at(0))
    common = dict(proposal_id=pid, village_code=village)
    checked = envelope(
        IntegrityChecked(round=1, stage=IntegrityStage.ENTRY, passed=True, **common),
        caused_by=submitted, occurred_at=at(1), actor=None,
    )  # fmt: skip
    forwarded = envelope(
        VerifiedAtTier(round=1, tier=Tier.DISTRICT, verifier=district, **common),
        caused_by=submitted, occurred_at=at(2), version=3, actor=district,
    )  # fmt: skip
    returned = envelope(
        ReturnedAtTier(round=1, tier=Tier.REGENCY, returned_by=regency,
                       reasons=(Finding.of(ReasonCode.NAME_MISMATCH, field_path="household.members[0].name"),), **common),
        caused_by=submitted, occurred_at=at(3), version=4, actor=regency,
    )  # fmt: skip
    notified = envelope(
        NotificationDelivered(notification_id=f"n-{pid}", delivery_id=f"d-{pid}", channel="inbox",
                              recipient="op-1", attempt=1, related_event_id=returned.event_id),
        caused_by=returned, occurred_at=at(4), actor=None,
    )  # fmt: skip
    resubmitted = envelope(
        ProposalResubmitted(round=2, correction_note="Name as on the KTP", **content),
        actor=operator, occurred_at=at(5), version=2, correlation_id=submitted.correlation_id,
    )  # fmt: skip
    # The Ministry's second check and its acceptance: recorded together, one timestamp.
    ministry_check = envelope(
        IntegrityChecked(round=2, stage=IntegrityStage.MINISTRY, passed=True, **common),
        occurred_at=at(6), version=8, actor=None,
    )  # fmt: skip
    accepted = acceptance(pid, accepted_at=at(6), household=household, round=2, version=9)
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix,
                  [submitted, checked, forwarded, returned, notified, resubmitted, ministry_check])  # fmt: skip
    await registry.accept([accepted])
    assert (await registry.decree("4/HUK/2027", "2027-01", cutoff=at(7))).status_code == 201

    hid = household_id_for(pid)
    wanted = [
        "proposal.submitted", "verification.integrity_checked", "verification.verified_at_tier",
        "verification.returned_at_tier", "notification.delivered", "proposal.resubmitted",
        "verification.integrity_checked", "verification.accepted_by_ministry", "registry.household_registered", "registry.determination_issued",
    ]  # fmt: skip

    async def history() -> list[dict]:
        response = await registry.client.get(
            f"/audit/households/{hid}/history", headers=registry.auth(Role.AUDITOR)
        )
        return response.json().get("events", []) if response.status_code == 200 else []

    async def complete() -> bool:
        return len(await history()) == len(wanted)

    await wait_until(complete, what="the household's history across all services")
    events = await history()
    assert sorted(e["event_type"] for e in events) == sorted(wanted)
    assert [e["event_type"] for e in events][:8] == wanted[:8]  # causal order across services
    rounds = [e["payload"]["round"] for e in events if e["event_type"].startswith("proposal.")]
    assert rounds == [1, 2]
    returned_doc = next(e for e in events if e["event_type"] == "verification.returned_at_tier")
    assert returned_doc["payload"]["reasons"][0]["code"] == "NAME_MISMATCH"
    # Who forwarded and who returned it, by id and by name.
    forwarded_doc = next(e for e in events if e["event_type"] == "verification.verified_at_tier")
    assert (forwarded_doc["actor"]["subject"], forwarded_doc["actor"]["name"]) == ("kec-1", "Budi Santoso")
    assert forwarded_doc["payload"]["verifier"]["name"] == "Budi Santoso"
    assert (returned_doc["actor"]["subject"], returned_doc["actor"]["name"]) == ("dinsos-1", "Rina Marlina")
    assert returned_doc["payload"]["returned_by"]["name"] == "Rina Marlina"
    decree_doc = next(e for e in events if e["event_type"] == "registry.determination_issued")
    assert (
        decree_doc["payload"]["this_household"] == "registered" and "registered" not in decree_doc["payload"]
    )
    assert "changed_leaves" not in decree_doc["payload"]  # the decree's lists are trimmed, its leaves too
    forbidden = await registry.client.get(
        f"/audit/households/{hid}/history", headers=registry.auth(Role.AGENCY, "17")
    )
    assert forbidden.status_code == 403


async def test_an_overdue_notice_is_in_the_history_of_each_household_it_lists_with_its_own_item_only(
    registry,
):
    """A notice lists a region's overdue items; each household's history shows it, trimmed to its own
    (the other households' proposals and days are not shown)."""
    pids = [f"prop-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    households = [make_household(21), make_household(22)]
    village = households[0].village_code
    notice = envelope(
        ItemsOverdue(
            notice_id=f"notice-{uuid.uuid4().hex[:8]}", tier=Tier.DISTRICT, level=1, notify_tier=Tier.DISTRICT,
            notify_region=village[:8],
            groups=(
                OverdueGroup(entered_on=dt.date(2026, 12, 14), due_date=dt.date(2026, 12, 29),
                             proposal_ids=(pids[0], "prop-of-another-household")),
                OverdueGroup(entered_on=dt.date(2026, 12, 15), due_date=dt.date(2026, 12, 30),
                             proposal_ids=(pids[1],)),
            ),
        ),
        actor=None, occurred_at=ago(3),
    )  # fmt: skip
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix, [notice])
    await registry.accept(
        [acceptance(pid, accepted_at=ago(2), household=h) for pid, h in zip(pids, households, strict=True)]
    )

    for pid in pids:

        async def overdue_in_history(pid: str = pid) -> list[dict]:
            response = await registry.client.get(
                f"/audit/households/{household_id_for(pid)}/history", headers=registry.auth(Role.AUDITOR)
            )
            events = response.json().get("events", []) if response.status_code == 200 else []
            return [e for e in events if e["event_type"] == "verification.items_overdue"]

        async def shown(pid: str = pid) -> bool:
            return bool(await overdue_in_history(pid))

        await wait_until(shown, what="the overdue notice in the household's history")
        [found] = await overdue_in_history(pid)
        assert found["event_id"] == str(notice.event_id)
        assert [(g["entered_on"], g["proposal_ids"]) for g in found["payload"]["groups"]] == [
            ("2026-12-14" if pid == pids[0] else "2026-12-15", [pid])
        ]
        assert found["payload"]["level"] == 1 and found["payload"]["notify_region"] == village[:8]
