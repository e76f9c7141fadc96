"""Submissions through the real HTTP stack, real PostgreSQL and real Kafka: idempotency, scope,
validation at the door, offline-queue batches, windows and quotas."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import (
    OTHER_VILLAGE,
    count,
    database_of,
    headers,
    operator,
    proposal_events_in_kafka,
    sample_bodies,
)
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

ServiceFactory = Any

BODIES = sample_bodies(8)


def _fresh(i: int) -> dict[str, Any]:
    return {**BODIES[i], "proposal_id": str(uuid.uuid4())}


async def test_a_retry_gets_the_first_answer_and_a_changed_body_under_the_same_key_gets_409(
    service: ServiceFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with service() as (app, client):
        body = _fresh(0)
        first = await client.post("/proposals", json=body, headers=operator())
        assert first.status_code == 201, first.text
        again = await client.post("/proposals", json=body, headers=operator())
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
        changed = {**body, "programs": ["PIP"]}
        conflict = await client.post("/proposals", json=changed, headers=operator())
        assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_key_reused"

        # An Idempotency-Key without a client id; concurrent retries of it make one proposal.
        keyed = {k: v for k, v in BODIES[1].items() if k != "proposal_id"}
        key = {"Idempotency-Key": "device-7/queue-41", **operator()}
        answers = await asyncio.gather(
            *(client.post("/proposals", json=keyed, headers=key) for _ in range(5))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["proposal_id"] for a in answers}) == 1

        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 2
        assert await count(db, "SELECT count(*) FROM events WHERE event_type = 'proposal.submitted'") == 2
        await wait_until(
            lambda: _equals(proposal_events_in_kafka(kafka_bootstrap, topic_prefix), 2),
            what="2 events in Kafka",
        )


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


async def test_an_operator_of_another_village_gets_403_and_nothing_is_written(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        answer = await client.post("/proposals", json=_fresh(0), headers=operator(OTHER_VILLAGE))
        assert answer.status_code == 403 and answer.json()["code"] == "outside_region"
        verifier = await client.post(
            "/proposals", json=_fresh(0), headers=headers(Role.DISTRICT_VERIFIER, "17.71.01")
        )
        assert verifier.status_code == 403
        assert (await client.post("/proposals", json=_fresh(0))).status_code == 401
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 0
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 0


async def test_the_door_names_every_field_to_correct(service: ServiceFactory) -> None:
    async with service() as (_app, client):
        body = _fresh(0)
        members = [dict(m) for m in body["household"]["members"]]
        members[1]["relation_to_head"] = "head"
        members[0]["nik"] = "9999991204780001"  # no such district
        body["household"] = {**body["household"], "members": members}
        answer = await client.post("/proposals", json=body, headers=operator())
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert "household.members[0].nik" in {e["field"] for e in answer.json()["errors"]}
        body["household"]["members"][0] = BODIES[0]["household"]["members"][0]
        answer = await client.post("/proposals", json=body, headers=operator())
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_proposal"
        assert [e["field"] for e in answer.json()["errors"]] == ["household.members[1].relation_to_head"]


async def test_an_offline_queue_uploads_in_one_request_with_a_result_per_item(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        good, other = _fresh(2), _fresh(3)
        broken = {**_fresh(4), "village_code": "17.71.01.9999"}
        batch = {"items": [good, broken, other, good]}
        answer = await client.post("/proposals/batch", json=batch, headers=operator())
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [201, 422, 201, 201]
        assert results[3]["replayed"] is True and results[3]["body"] == results[0]["body"]
        assert results[1]["problem"]["errors"][0]["field"] == "village_code"
        again = await client.post("/proposals/batch", json=batch, headers=operator())
        assert [r["status"] for r in again.json()["results"]] == [201, 422, 201, 201]
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 2


async def test_a_closed_window_or_a_used_quota_refuses_with_why_and_until_when(
    service: ServiceFactory,
) -> None:
    ministry = headers(Role.MINISTRY_VERIFIER, "ID")
    async with service() as (app, client):
        denied = await client.put("/windows/17.71", json={"open": False}, headers=operator())
        assert denied.status_code == 403
        closed = await client.put(
            "/windows/17.71",
            json={"open": False, "period": {"start": "2099-01-01", "end": "2099-03-31"}},
            headers=ministry,
        )
        assert closed.status_code == 200, closed.text
        refused = await client.post("/proposals", json=_fresh(0), headers=operator())
        assert refused.status_code == 409 and refused.json()["code"] == "proposal_window_closed"
        assert refused.json()["until"] == "2099-01-01"
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0

        quota = {"open": True, "period": {"start": "2000-01-01", "end": "2099-12-31"}, "quota": 1}
        assert (await client.put("/windows/17.71", json=quota, headers=ministry)).status_code == 200
        assert (await client.post("/proposals", json=_fresh(0), headers=operator())).status_code == 201
        over = await client.post("/proposals", json=_fresh(1), headers=operator())
        assert over.status_code == 409 and over.json()["reason_code"] == "QUOTA_EXCEEDED"
        assert "quota of 1" in over.json()["detail"]
        window = await client.get("/windows/17.71", headers=ministry)
        assert window.json()["used"] == 1
        # Another regency has no window: open, no quota.
        elsewhere = await client.get("/windows/17.01", headers=ministry)
        assert elsewhere.json()["open"] is True and elsewhere.json()["quota"] is None
        assert (
            await count(database_of(app), "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'")
            == 1
        )
        # Each window the Ministry set is an event of its regency's window stream, in order.
        conn = await asyncpg.connect(database_of(app))
        try:
            versions = await conn.fetch(
                "SELECT stream_version, envelope->'payload'->>'open' AS open FROM events "
                "WHERE stream_id = 'proposal_window:17.71' ORDER BY stream_version"
            )
        finally:
            await conn.close()
        assert [(r["stream_version"], r["open"]) for r in versions] == [(1, "false"), (2, "true")]


async def test_concurrent_retries_of_one_proposal_id_make_one_proposal_and_a_quota_admits_no_more(
    service: ServiceFactory,
) -> None:
    ministry = headers(Role.MINISTRY_VERIFIER, "ID")
    async with service() as (app, client):
        body = _fresh(2)
        answers = await asyncio.gather(
            *(client.post("/proposals", json=body, headers=operator()) for _ in range(6))
        )
        assert {a.status_code for a in answers} == {201}
        assert all(a.json() == answers[0].json() for a in answers)
        assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
        # The same proposal id under a new key is another request, not a retry: refused.
        taken = await client.post(
            "/proposals", json=body, headers={"Idempotency-Key": "another", **operator()}
        )
        assert taken.status_code == 409 and taken.json()["code"] == "proposal_id_taken"

        quota = {"open": True, "period": {"start": "2000-01-01", "end": "2099-12-31"}, "quota": 4}
        assert (await client.put("/windows/17.71", json=quota, headers=ministry)).status_code == 200
        rush = await asyncio.gather(
            *(client.post("/proposals", json=_fresh(3 + i), headers=operator()) for i in range(5))
        )
        assert sorted(a.status_code for a in rush) == [201, 201, 201, 409, 409]
        assert (await client.get("/windows/17.71", headers=ministry)).json()["used"] == 4
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 4
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 4
        assert await count(db, "SELECT count(*) FROM proposal_timeline") == 4


async def test_concurrent_submissions_share_transactions_and_a_taken_id_in_a_group_spoils_no_other(
    service: ServiceFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with service() as (app, client):
        group = app.state.submission_group
        group.max_inflight = 1  # one transaction at a time: whoever arrives meanwhile joins the next
        taken = _fresh(0)
        first = await client.post("/proposals", json=taken, headers=operator())
        assert first.status_code == 201
        bodies = [_fresh(1 + i % 7) for i in range(40)]
        # The taken id under a new key is a new request for an existing proposal: its group is rolled
        # back and decided one by one, and only that one submission is refused.
        answers = await asyncio.gather(
            *(client.post("/proposals", json=b, headers=operator()) for b in bodies[:20]),
            client.post("/proposals", json=taken, headers={"Idempotency-Key": "k-1", **operator()}),
            *(client.post("/proposals", json=b, headers=operator()) for b in bodies[20:]),
        )
        codes = [a.status_code for a in answers]
        assert codes.count(201) == 40 and codes[20] == 409, codes
        assert answers[20].json()["code"] == "proposal_id_taken"
        assert {a.json()["proposal_id"] for a in answers if a.status_code == 201} == {
            b["proposal_id"] for b in bodies
        }
        assert group.groups < 40 and group.fallbacks >= 1  # shared transactions, one fell back
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 41
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 41
        assert await count(db, "SELECT count(*) FROM proposal_timeline") == 41
        assert await count(db, "SELECT count(*) FROM idempotency") == 41
        # Every retry after the groups replays its own answer.
        again = await client.post("/proposals", json=bodies[5], headers=operator())
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == next(
            a.json() for a in answers if a.json().get("proposal_id") == bodies[5]["proposal_id"]
        )
        await wait_until(
            lambda: _equals(proposal_events_in_kafka(kafka_bootstrap, topic_prefix), 41),
            what="41 events in Kafka",
        )


async def test_a_withdrawn_proposal_gives_its_place_in_the_quota_back(service: ServiceFactory) -> None:
    ministry = headers(Role.MINISTRY_VERIFIER, "ID")
    async with service() as (_app, client):
        quota = {"open": True, "period": {"start": "2000-01-01", "end": "2099-12-31"}, "quota": 2}
        assert (await client.put("/windows/17.71", json=quota, headers=ministry)).status_code == 200
        first = await client.post("/proposals", json=_fresh(0), headers=operator())
        assert (await client.post("/proposals", json=_fresh(1), headers=operator())).status_code == 201
        over = await client.post("/proposals", json=_fresh(2), headers=operator())
        assert over.status_code == 409 and over.json()["reason_code"] == "QUOTA_EXCEEDED"

        pid = first.json()["proposal_id"]
        for _ in range(2):  # a repeated withdrawal replays its answer and gives nothing back twice
            withdrawn = await client.post(
                f"/proposals/{pid}/withdrawal", json={"reason": "entered twice"}, headers=operator()
            )
            assert withdrawn.status_code == 200, withdrawn.text
        assert (await client.get("/windows/17.71", headers=ministry)).json()["used"] == 1
        assert (await client.post("/proposals", json=_fresh(2), headers=operator())).status_code == 201
        full = await client.post("/proposals", json=_fresh(3), headers=operator())
        assert full.status_code == 409 and full.json()["reason_code"] == "QUOTA_EXCEEDED"
        # The Ministry's recount agrees: the withdrawn proposal is not counted.
        recount = await client.put("/windows/17.71", json=quota, headers=ministry)
        assert recount.json()["used"] == 2


async def test_another_villages_proposal_and_import_read_as_missing_like_an_unknown_id(
    service: ServiceFactory,
) -> None:
    from dtks_proposal.testing import IMPORT_FORM, csv_bytes, village_rows

    async with service(import_worker_enabled=False) as (app, client):
        body = _fresh(2)
        pid = (await client.post("/proposals", json=body, headers=operator())).json()["proposal_id"]
        upload = await client.post(
            "/imports",
            files={"file": ("musdes.csv", csv_bytes(village_rows(4)), "text/csv")},
            data=IMPORT_FORM,
            headers=operator(),
        )
        import_id = upload.json()["import_id"]
        neighbour = operator(OTHER_VILLAGE)
        unknown_pid, unknown_import = str(uuid.uuid4()), str(uuid.uuid4())
        pairs = [
            (f"/proposals/{pid}", f"/proposals/{unknown_pid}", "GET", None),
            (f"/imports/{import_id}", f"/imports/{unknown_import}", "GET", None),
            (
                f"/proposals/{pid}/withdrawal",
                f"/proposals/{unknown_pid}/withdrawal",
                "POST",
                {"reason": "not ours"},
            ),
        ]
        for path, unknown, method, payload in pairs:
            other = await client.request(method, path, json=payload, headers=neighbour)
            missing = await client.request(method, unknown, json=payload, headers=neighbour)
            assert (other.status_code, missing.status_code) == (404, 404), (path, other.text)
            assert other.json()["code"] == missing.json()["code"]
            # Nothing names where the proposal or the import lives.
            assert body["village_code"] not in other.text
            assert other.json()["detail"] == missing.json()["detail"].replace(
                unknown.split("/")[2], path.split("/")[2]
            )
        assert (await client.get(f"/proposals/{pid}", headers=operator())).status_code == 200
        assert await count(database_of(app), "SELECT count(*) FROM proposals WHERE status = 'withdrawn'") == 0


def _poisoned(i: int, name: str) -> dict[str, Any]:
    body = _fresh(i)
    members = [dict(m) for m in body["household"]["members"]]
    members[0]["name"] = name
    return {**body, "household": {**body["household"], "members": members}}


async def test_a_name_with_a_nul_or_a_direction_override_is_refused_with_422_naming_the_field(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        for name in ("Budi\u0000Santoso", "Budi\u202eosotnaS", "Budi\u0007", "Budi\nSantoso"):
            answer = await client.post("/proposals", json=_poisoned(0, name), headers=operator())
            assert answer.status_code == 422, (repr(name), answer.text)
            assert [e["field"] for e in answer.json()["errors"]] == ["household.members[0].name"]
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0
        assert (
            await count(database_of(app), "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'")
            == 0
        )


async def test_a_batch_with_a_poisoned_item_records_the_others_and_says_so_item_by_item(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        batch = {"items": [_fresh(2), _poisoned(3, "Siti\u0000"), _fresh(4)]}
        answer = await client.post("/proposals/batch", json=batch, headers=operator())
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [201, 422, 201]
        assert results[1]["problem"]["errors"][0]["field"] == "household.members[0].name"
        assert answer.json()["accepted"] == 2
        # What the answer says is what was stored: the two accepted items, and nothing of the other.
        ids = [results[i]["body"]["proposal_id"] for i in (0, 2)]
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 2
        assert await count(db, "SELECT count(*) FROM proposals WHERE proposal_id = ANY($1::text[])", ids) == 2


async def test_the_same_body_sent_twice_without_any_key_makes_one_proposal(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        body = {k: v for k, v in BODIES[5].items() if k != "proposal_id"}
        first = await client.post("/proposals", json=body, headers=operator())
        assert first.status_code == 201, first.text
        again = await client.post("/proposals", json=body, headers=operator())
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        # Another content is another proposal.
        other = {k: v for k, v in BODIES[6].items() if k != "proposal_id"}
        assert (await client.post("/proposals", json=other, headers=operator())).status_code == 201
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 2


async def test_after_the_retry_window_the_same_body_without_a_key_is_a_new_proposal(
    service: ServiceFactory,
) -> None:
    async with service(keyless_retry_window_seconds=0.5) as (app, client):
        body = {k: v for k, v in BODIES[7].items() if k != "proposal_id"}
        first = await client.post("/proposals", json=body, headers=operator())
        await asyncio.sleep(1.0)
        later = await client.post("/proposals", json=body, headers=operator())
        assert (first.status_code, later.status_code) == (201, 201)
        assert later.json()["proposal_id"] != first.json()["proposal_id"]
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 2


async def test_a_household_with_an_impossible_count_or_area_is_refused_naming_the_field(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        for part, field, value in (
            ("assets", "bicycles", 10**30),
            ("assets", "cattle", 1_000_000),
            ("assets", "land_m2", 1e12),
            ("housing", "floor_area_m2", 50_000),
            ("housing", "electricity_capacity_va", 10**9),
        ):
            body = _fresh(0)
            household = {**body["household"], part: {**(body["household"].get(part) or {}), field: value}}
            answer = await client.post(
                "/proposals", json={**body, "household": household}, headers=operator()
            )
            assert answer.status_code == 422, (field, answer.text)
            assert f"household.{part}.{field}" in [e["field"] for e in answer.json()["errors"]]
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0


async def test_a_batch_item_the_database_refuses_is_reported_alone_and_the_answer_matches_what_was_stored(
    service: ServiceFactory,
) -> None:
    async with service() as (app, client):
        db = database_of(app)
        refused = _fresh(3)
        # A fault no check at the door can see: the database refuses this one household.
        conn = await asyncpg.connect(db)
        try:
            await conn.execute(
                "ALTER TABLE proposals ADD CONSTRAINT refuse_one_household "
                f"CHECK (content->'household'->>'kk_number' IS DISTINCT FROM '{refused['household']['kk_number']}')"
            )
        finally:
            await conn.close()
        batch = {"items": [_fresh(2), refused, _fresh(4)]}
        answer = await client.post("/proposals/batch", json=batch, headers=operator())
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [201, 500, 201]
        assert "was not recorded" in results[1]["problem"]["detail"]
        assert (answer.json()["accepted"], answer.json()["refused"]) == (2, 1)
        ids = [results[i]["body"]["proposal_id"] for i in (0, 2)]
        assert await count(db, "SELECT count(*) FROM proposals") == 2
        assert await count(db, "SELECT count(*) FROM proposals WHERE proposal_id = ANY($1::text[])", ids) == 2
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 2
