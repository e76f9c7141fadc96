"""Complaints: filed without sign-in or at the welfare post, tracked by code, acted on by the village,
followed to the decree of the proposal made of them, escalated when left too long, rate-limited."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest
from dtks_complaints.testing import DISTRICT, NIK, OTHER_NIK, OTHER_VILLAGE, VILLAGE, Clock, form, headers

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalWithdrawn
from dtks_contracts.events.registry import HouseholdDeactivated
from dtks_contracts.vocabulary.complaints import CLOSING_MESSAGES, ComplaintClosingReason
from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.testing import Infra, publish_events, wait_until

pytestmark = pytest.mark.infra

OPERATOR = headers(Role.VILLAGE_OPERATOR, VILLAGE)


async def _events(app, complaint_id: str) -> list[str]:
    conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"complaint:{complaint_id}",
        )
        return [r["event_type"] for r in rows]
    finally:
        await conn.close()


async def _queue(client, region: str, who: dict[str, str]) -> list[dict]:
    got = await client.get("/complaints", params={"region": region}, headers=who)
    assert got.status_code == 200, got.text
    return got.json()["items"]


async def test_a_public_complaint_is_tracked_linked_and_closed_by_the_decree_of_its_proposal(
    service, infra: Infra, topic_prefix: str, clock: Clock
):
    # The test polls the tracking check until the decree arrives: more checks than a citizen's burst.
    async with service(complaint_tracking_burst=1000) as (app, client):
        filed = await client.post(
            "/public/complaints",
            json=form(kind="inclusion", subject_household_id="H-17710110040001", nik=OTHER_NIK),
        )
        assert filed.status_code == 201, filed.text
        code = filed.json()["tracking_code"]
        assert "complaint_id" not in filed.json()

        tracked = (await client.get(f"/public/complaints/{code}")).json()
        assert tracked["status"] == "open"
        assert "2026-03-16" in tracked["next_step"]  # filed 2 March, 14 days to act

        clock.advance(dt.timedelta(days=3))
        [item] = await _queue(client, VILLAGE, OPERATOR)
        assert item["age_days"] == 3.0 and item["complainant"]["phone"] == "081234567890"
        assert item["subject_household_id"] == "H-17710110040001"
        complaint_id = item["complaint_id"]

        linked = await client.post(
            f"/complaints/{complaint_id}/proposal", json={"proposal_id": "P-1"}, headers=OPERATOR
        )
        assert linked.status_code == 200, linked.text
        again = await client.post(
            f"/complaints/{complaint_id}/proposal", json={"proposal_id": "P-1"}, headers=OPERATOR
        )
        assert again.status_code == 200
        assert (await client.get(f"/public/complaints/{code}")).json()["status"] == "in_proposal"

        decree = HouseholdDeactivated(
            household_id="H-17710110040001",
            decree_number="3/HUK/2026",
            kk_number="1771010101200002",
            reason=DeactivationReason.NO_LONGER_ELIGIBLE,
            proposal_id="P-1",
        )
        envelope = EventEnvelope.new(decree, aggregate_version=1, actor=None)
        await publish_events(infra.kafka_bootstrap, topic_prefix, [envelope, envelope])  # and redelivered

        async def closed() -> bool:
            return (await client.get(f"/public/complaints/{code}")).json()["status"] == "closed"

        await wait_until(closed, what="the decree closes the complaint")
        tracked = (await client.get(f"/public/complaints/{code}")).json()
        assert tracked["next_step"] == CLOSING_MESSAGES[ComplaintClosingReason.RESOLVED_BY_DECREE]
        assert await _events(app, complaint_id) == ["complaint.filed", "complaint.linked", "complaint.closed"]
        assert await _queue(client, VILLAGE, OPERATOR) == []


async def test_the_village_closes_a_complaint_with_a_coded_reason_and_only_once(service):
    async with service() as (app, client):
        code = (await client.post("/public/complaints", json=form())).json()["tracking_code"]
        [item] = await _queue(client, VILLAGE, OPERATOR)
        url = f"/complaints/{item['complaint_id']}/closure"

        elsewhere = await client.post(
            url, json={"reason": "NOT_ELIGIBLE"}, headers=headers(Role.VILLAGE_OPERATOR, OTHER_VILLAGE)
        )
        assert elsewhere.status_code == 404  # another village's complaint reads as missing
        by_decree = await client.post(url, json={"reason": "RESOLVED_BY_DECREE"}, headers=OPERATOR)
        assert by_decree.status_code == 422 and by_decree.json()["code"] == "closing_reason_not_allowed"

        closed = await client.post(
            url,
            json={"reason": "NOT_ELIGIBLE", "note": "Field visit: brick house, two motorbikes."},
            headers=OPERATOR,
        )
        assert closed.status_code == 200, closed.text
        twice = await client.post(url, json={"reason": "NO_ERROR_FOUND"}, headers=OPERATOR)
        assert twice.status_code == 409 and twice.json()["code"] == "complaint_closed"

        tracked = (await client.get(f"/public/complaints/{code}")).json()
        assert tracked == {
            "status": "closed",
            "next_step": CLOSING_MESSAGES[ComplaintClosingReason.NOT_ELIGIBLE],
            "filed_on": "2026-03-02",
        }
        assert await _events(app, item["complaint_id"]) == ["complaint.filed", "complaint.closed"]


async def test_a_complaint_left_past_its_deadline_is_escalated_to_the_district_once(service, clock: Clock):
    async with service(escalation_worker_enabled=False, complaint_deadline_days=10) as (app, client):
        code = (await client.post("/public/complaints", json=form())).json()["tracking_code"]
        acted_on = (await client.post("/public/complaints", json=form(nik=OTHER_NIK))).json()
        worker = app.state.escalation_worker
        district = headers(Role.DISTRICT_VERIFIER, DISTRICT)

        assert await worker.escalate_due(clock.at + dt.timedelta(days=9, hours=23)) == 0
        assert await _queue(client, DISTRICT, district) == []
        # The second one is acted on in time: a village closing it keeps it from the district.
        [_, second] = await _queue(client, VILLAGE, OPERATOR)
        await client.post(
            f"/complaints/{second['complaint_id']}/closure",
            json={"reason": "DUPLICATE_COMPLAINT"},
            headers=OPERATOR,
        )

        assert await worker.escalate_due(clock.at + dt.timedelta(days=10)) == 1
        assert await worker.escalate_due(clock.at + dt.timedelta(days=11)) == 0
        [escalated] = await _queue(client, DISTRICT, district)
        assert escalated["status"] == "escalated"
        assert (await client.get(f"/public/complaints/{code}")).json()["status"] == "escalated"
        assert await _events(app, escalated["complaint_id"]) == ["complaint.filed", "complaint.escalated"]
        assert acted_on["status"] == "open"
        # Still the village's to act on: closing an escalated complaint works.
        closed = await client.post(
            f"/complaints/{escalated['complaint_id']}/closure",
            json={"reason": "NOT_IN_VILLAGE"},
            headers=OPERATOR,
        )
        assert closed.status_code == 200


async def test_the_tracking_check_shows_only_status_and_next_step_and_nothing_of_others(service):
    async with service() as (_, client):
        mine = (await client.post("/public/complaints", json=form())).json()["tracking_code"]
        await client.post(
            "/public/complaints",
            json=form(nik=OTHER_NIK, name="Budi Santoso", phone="085711112222", kind="data_error"),
        )
        got = await client.get(f"/public/complaints/{mine}")
        assert set(got.json()) == {"status", "next_step", "filed_on"}
        for secret in (NIK, OTHER_NIK, "Sari", "Budi", "0812", "0857", VILLAGE):
            assert secret not in got.text
        # A code never given and a mistyped one answer alike.
        for wrong in ("AAAAAAAAAAAA", mine[:-1] + ("B" if mine[-1] != "B" else "C")):
            unknown = await client.get(f"/public/complaints/{wrong}")
            assert unknown.status_code == 404 and unknown.json()["code"] == "tracking_code_unknown"


async def test_the_public_form_is_limited_per_client_and_per_nik_and_refuses_what_is_malformed(service):
    async with service(complaint_public_burst=3, complaint_nik_burst=1) as (_, client):
        malformed = await client.post("/public/complaints", json=form(nik="12345", phone="12"))
        assert malformed.status_code == 422
        assert {e["field"] for e in malformed.json()["errors"]} == {"nik", "phone"}
        inclusion_without_subject = await client.post("/public/complaints", json=form(kind="inclusion"))
        assert inclusion_without_subject.status_code == 422

        assert (await client.post("/public/complaints", json=form())).status_code == 201
        same_nik = await client.post("/public/complaints", json=form())
        assert same_nik.status_code == 429 and "NIK" in same_nik.json()["detail"]
        assert int(same_nik.headers["retry-after"]) > 0
        # The client's allowance (3) is spent by the two above and this one.
        assert (await client.post("/public/complaints", json=form(nik=OTHER_NIK))).status_code == 201
        from_address = await client.post("/public/complaints", json=form(nik="1771014501900003"))
        assert from_address.status_code == 429 and "address" in from_address.json()["detail"]


async def test_a_welfare_post_officer_files_for_a_citizen_of_their_village_only(service):
    async with service() as (_, client):
        post = headers(Role.WELFARE_POST_OPERATOR, VILLAGE)
        filed = await client.post("/complaints", json=form(), headers=post)
        assert filed.status_code == 201, filed.text
        elsewhere = await client.post("/complaints", json=form(village_code=OTHER_VILLAGE), headers=post)
        assert elsewhere.status_code == 403
        assert (await client.post("/complaints", json=form(), headers=OPERATOR)).status_code == 403
        [item] = await _queue(client, VILLAGE, OPERATOR)
        assert item["channel"] == "welfare_post"


async def _consumed(app, consumer: str) -> int:
    conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer))
    finally:
        await conn.close()


async def test_a_complaint_linked_after_its_proposal_was_decided_or_withdrawn_does_not_wait_for_events_gone_by(
    service, infra: Infra, topic_prefix: str
):
    async with service() as (app, client):
        decree = HouseholdDeactivated(
            household_id="H-9",
            decree_number="4/HUK/2026",
            kk_number="1771010101200002",
            reason=DeactivationReason.NOT_FOUND,
            proposal_id="P-9",
        )
        withdrawn = ProposalWithdrawn(
            proposal_id="P-10",
            round=1,
            village_code=VILLAGE,
            withdrawn_by=Actor(subject="op", role=Role.VILLAGE_OPERATOR, region=VILLAGE),
            reason="Entered twice.",
        )
        await publish_events(
            infra.kafka_bootstrap,
            topic_prefix,
            [EventEnvelope.new(e, aggregate_version=1, actor=None) for e in (decree, withdrawn)],
        )

        async def both_seen() -> bool:
            return await _consumed(app, "complaint-status") == 2

        await wait_until(both_seen, what="the decree and the withdrawal recorded")
        code = (await client.post("/public/complaints", json=form())).json()["tracking_code"]
        await client.post("/public/complaints", json=form(nik=OTHER_NIK))
        first, second = await _queue(client, VILLAGE, OPERATOR)

        decided = await client.post(
            f"/complaints/{first['complaint_id']}/proposal", json={"proposal_id": "P-9"}, headers=OPERATOR
        )
        assert decided.status_code == 200 and decided.json()["status"] == "closed"
        assert (await client.get(f"/public/complaints/{code}")).json()["status"] == "closed"
        assert await _events(app, first["complaint_id"]) == [
            "complaint.filed",
            "complaint.linked",
            "complaint.closed",
        ]

        gone = await client.post(
            f"/complaints/{second['complaint_id']}/proposal", json={"proposal_id": "P-10"}, headers=OPERATOR
        )
        assert gone.status_code == 200
        # The proposal made of it was withdrawn: the village may act on the complaint again.
        closed = await client.post(
            f"/complaints/{second['complaint_id']}/closure",
            json={"reason": "DUPLICATE_COMPLAINT"},
            headers=OPERATOR,
        )
        assert closed.status_code == 200, closed.text


async def test_recap_statistics_count_complaints_by_kind_village_and_outcome(service):
    async with service() as (_, client):
        await client.post("/public/complaints", json=form())
        await client.post("/public/complaints", json=form(nik=OTHER_NIK, kind="data_error"))
        await client.post("/public/complaints", json=form(nik="1771014501900003", village_code=OTHER_VILLAGE))
        first = next(i for i in await _queue(client, VILLAGE, OPERATOR) if i["kind"] == "exclusion")
        await client.post(
            f"/complaints/{first['complaint_id']}/closure", json={"reason": "NOT_ELIGIBLE"}, headers=OPERATOR
        )

        district = await client.get(
            "/complaints/statistics",
            params={"region": DISTRICT},
            headers=headers(Role.DISTRICT_VERIFIER, DISTRICT),
        )
        assert district.status_code == 200, district.text
        counted = {
            (c["village_code"], c["kind"], c["outcome"]): c["count"] for c in district.json()["counts"]
        }
        assert counted == {
            (VILLAGE, "exclusion", "NOT_ELIGIBLE"): 1,
            (VILLAGE, "data_error", "open"): 1,
            (OTHER_VILLAGE, "exclusion", "open"): 1,
        }
        village = await client.get("/complaints/statistics", params={"region": VILLAGE}, headers=OPERATOR)
        assert village.json()["total"] == 2
        outside = await client.get("/complaints/statistics", params={"region": DISTRICT}, headers=OPERATOR)
        assert outside.status_code == 403
        assert (await client.get("/complaints/statistics", params={"region": VILLAGE})).status_code == 401


async def test_the_waiting_list_pages_through_every_complaint_once_and_one_is_read_by_its_id(service):
    async with service() as (_, client):
        post = headers(Role.WELFARE_POST_OPERATOR, VILLAGE)
        for serial in range(1, 6):
            filed = await client.post(
                "/complaints", json=form(nik=f"17710145019000{serial:02d}"), headers=post
            )
            assert filed.status_code == 201, filed.text
        seen: list[str] = []
        params: dict[str, object] = {"region": VILLAGE, "limit": 2}
        while True:
            page = await client.get("/complaints", params=params, headers=OPERATOR)
            assert page.status_code == 200, page.text
            assert len(page.json()["items"]) <= 2
            seen += [i["complaint_id"] for i in page.json()["items"]]
            if page.json()["next_after"] is None:
                break
            params["after"] = page.json()["next_after"]
        assert len(seen) == len(set(seen)) == 5

        one = await client.get(f"/complaints/{seen[3]}", headers=OPERATOR)
        assert one.status_code == 200 and one.json()["complaint_id"] == seen[3]
        assert one.json()["complainant"]["nik"].startswith("177101450190000")
        elsewhere = await client.get(
            f"/complaints/{seen[3]}", headers=headers(Role.VILLAGE_OPERATOR, OTHER_VILLAGE)
        )
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "complaint_not_found")
        bad = await client.get("/complaints", params={"region": VILLAGE, "after": "soon"}, headers=OPERATOR)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")
        statistics = await client.get("/complaints/statistics", params={"region": VILLAGE}, headers=OPERATOR)
        assert statistics.status_code == 200, statistics.text


async def test_the_service_pool_opens_as_many_connections_as_its_setting_allows(service):
    # A filing waits for a connection while all are taken: the public form's pool is sized to the
    # citizens filing at once (50 by default), and a deployment can size it to its PostgreSQL.
    async with service(db_pool_max_size=7) as (app, _):
        assert app.state.deps.runtime.runtime.pool.get_max_size() == 7
    async with service() as (app, _):
        assert app.state.deps.runtime.runtime.pool.get_max_size() == 50
