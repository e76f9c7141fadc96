"""The village decides on the drafts life events opened: it confirms one by tying it to the proposal
submitted for it (the draft then follows that proposal through the tiers), or dismisses it with a
coded reason; each once. A move out of the village leaves a note for the receiving village."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from dtks_complaints.testing import OTHER_VILLAGE, VILLAGE, Clock, headers, life_event, registered

from dtks_contracts.events.civil_registry import ChildBorn, PersonDied, PersonMoved
from dtks_contracts.household import Household
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.testing import Infra, publish_events, wait_until

pytestmark = pytest.mark.infra

OPERATOR = headers(Role.VILLAGE_OPERATOR, VILLAGE)


def _household(village: str, household_id: str, seed: int, members: int = 3) -> Household:
    """A household of ``village`` from the synthetic population, with at least ``members`` members."""
    from dtks_synthetic import generate_population, proposals

    population = generate_population(village[:5], people=4000, seed=seed)
    bodies = [p.body["household"] for p in proposals(population, 8, seed=seed, village_code=village)]
    body = next(h for h in bodies if len(h["members"]) >= members)
    return Household.model_validate({**body, "household_id": household_id})


async def _stream(app: Any, draft_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
    try:
        rows = await conn.fetch(
            """SELECT event_type, topic, partition_key, envelope FROM events WHERE stream_id = $1
               ORDER BY stream_version""",
            f"life_event_draft:{draft_id}",
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def _proposal_events(proposal_app: Any, proposal_id: str) -> list[dict[str, Any]]:
    """The proposal service's own events of one proposal, as it stored them for publishing."""
    conn = await asyncpg.connect(proposal_app.state.deps.runtime.runtime.database_url)
    try:
        rows = await conn.fetch(
            "SELECT envelope FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"proposal:{proposal_id}",
        )
        return [json.loads(r["envelope"]) for r in rows]
    finally:
        await conn.close()


async def _drafts(client: httpx.AsyncClient, region: str = VILLAGE, **params: str) -> dict[str, Any]:
    got = await client.get(
        "/life-event-drafts",
        params={"region": region, **params},
        headers=headers(Role.VILLAGE_OPERATOR, region),
    )
    assert got.status_code == 200, got.text
    return dict(got.json())


async def _every_draft(client: httpx.AsyncClient, limit: str) -> list[str]:
    ids: list[str] = []
    params = {"limit": limit}
    while True:
        page = await _drafts(client, **params)
        assert len(page["items"]) <= int(limit)
        ids += [d["draft_id"] for d in page["items"]]
        if page["next_after"] is None:
            return ids
        params["after"] = page["next_after"]


async def _drafted(client: httpx.AsyncClient, count: int) -> dict[str, dict[str, Any]]:
    async def there() -> bool:
        return len((await _drafts(client))["items"]) >= count

    await wait_until(there, what=f"{count} drafts opened")
    return {d["life_event_id"]: d for d in (await _drafts(client))["items"]}


async def test_a_draft_is_confirmed_or_dismissed_once_by_its_own_village_and_a_move_leaves_a_note(
    service, infra: Infra, topic_prefix: str, clock: Clock
):
    household = _household(VILLAGE, "H-DRAFTS", seed=5)
    async with service() as (app, client):
        await publish_events(infra.kafka_bootstrap, topic_prefix, registered([household]))
        members = household.members
        died = life_event(PersonDied(life_event_id="L-D", nik=members[1].nik, died_on=dt.date(2026, 2, 1)))
        moved = life_event(
            PersonMoved(
                life_event_id="L-M",
                nik=members[2].nik,
                from_village=VILLAGE,
                to_village=OTHER_VILLAGE,
                moved_on=dt.date(2026, 2, 3),
            )
        )
        born = life_event(
            ChildBorn(
                life_event_id="L-B",
                nik="1771014502260007",
                kk_number=household.kk_number,
                parent_niks=(members[0].nik,),
                born_on=dt.date(2026, 2, 5),
            )
        )

        async def known() -> bool:
            conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
            try:
                return bool(await conn.fetchval("SELECT count(*) FROM register_members"))
            finally:
                await conn.close()

        await wait_until(known, what="the registered household projected")
        await publish_events(infra.kafka_bootstrap, topic_prefix, [died, moved, born])
        drafts = await _drafted(client, 3)
        death, move, birth = drafts["L-D"], drafts["L-M"], drafts["L-B"]
        # A page at a time, each draft once (a batch of life events opens its drafts at one moment).
        paged = await _every_draft(client, limit="1")
        assert sorted(paged) == sorted(d["draft_id"] for d in drafts.values())
        # The queue names the person (as the register has them) and the household.
        assert (death["nik"], death["person_name"], death["household_id"]) == (
            members[1].nik,
            members[1].name,
            "H-DRAFTS",
        )
        assert death["life_event"]["died_on"] == "2026-02-01"
        clock.advance(dt.timedelta(days=2))
        assert (await _drafts(client))["items"][0]["age_days"] == 2.0

        # Another village's operator: the draft reads as missing, the queue is not theirs.
        stranger = headers(Role.VILLAGE_OPERATOR, OTHER_VILLAGE)
        url = f"/life-event-drafts/{death['draft_id']}"
        for answer in (
            await client.get(url, headers=stranger),
            await client.post(f"{url}/confirmation", json={"proposal_id": "P-X"}, headers=stranger),
            await client.post(f"{url}/dismissal", json={"reason": "CIVIL_RECORD_WRONG"}, headers=stranger),
        ):
            assert answer.status_code == 404 and answer.json()["code"] == "draft_not_found"
        foreign = await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=stranger)
        assert foreign.status_code == 403

        confirmed = await client.post(f"{url}/confirmation", json={"proposal_id": "P-7"}, headers=OPERATOR)
        assert confirmed.status_code == 200, confirmed.text
        assert (confirmed.json()["status"], confirmed.json()["proposal_id"]) == ("confirmed", "P-7")
        # The same confirmation resent (the console's form sent twice): the same answer.
        again = await client.post(f"{url}/confirmation", json={"proposal_id": "P-7"}, headers=OPERATOR)
        assert again.status_code == 200 and again.json()["proposal_id"] == "P-7"
        # Confirmed twice, as another proposal, or dismissed after it: a clear 409.
        twice = await client.post(f"{url}/confirmation", json={"proposal_id": "P-8"}, headers=OPERATOR)
        assert twice.status_code == 409 and twice.json()["code"] == "draft_confirmed"
        assert "P-7" in twice.json()["detail"]
        late = await client.post(f"{url}/dismissal", json={"reason": "ALREADY_PROPOSED"}, headers=OPERATOR)
        assert late.status_code == 409 and late.json()["code"] == "draft_confirmed"

        birth_url = f"/life-event-drafts/{birth['draft_id']}"
        unknown = await client.post(f"{birth_url}/dismissal", json={"reason": "BECAUSE"}, headers=OPERATOR)
        assert unknown.status_code == 422
        dismissed = await client.post(
            f"{birth_url}/dismissal",
            json={
                "reason": "CIVIL_RECORD_WRONG",
                "note": "Anak dari keluarga lain; dilaporkan ke Disdukcapil",
            },
            headers=OPERATOR,
        )
        assert dismissed.status_code == 200, dismissed.text
        assert (dismissed.json()["status"], dismissed.json()["dismissal_reason"]) == (
            "dismissed",
            "CIVIL_RECORD_WRONG",
        )
        for retry in (
            await client.post(f"{birth_url}/dismissal", json={"reason": "DUPLICATE_DRAFT"}, headers=OPERATOR),
            await client.post(f"{birth_url}/confirmation", json={"proposal_id": "P-9"}, headers=OPERATOR),
        ):
            assert retry.status_code == 409 and retry.json()["code"] == "draft_dismissed"

        # Only the move still waits; the decided ones are listed by their status.
        assert [d["life_event_id"] for d in (await _drafts(client))["items"]] == ["L-M"]
        assert [d["life_event_id"] for d in (await _drafts(client, status="dismissed"))["items"]] == ["L-B"]
        [kept] = (await _drafts(client, status="confirmed"))["items"]
        assert (kept["life_event_id"], kept["proposal_stage"]) == ("L-D", "submitted")

        # Each decision is an event of the draft, once.
        confirmed_events = await _stream(app, death["draft_id"])
        assert [e["event_type"] for e in confirmed_events] == ["complaint.life_event_draft_confirmed"]
        dismissed_events = await _stream(app, birth["draft_id"])
        assert [e["event_type"] for e in dismissed_events] == ["complaint.life_event_draft_dismissed"]
        # On the complaints service's topic, keyed by the draft, with the coded reason.
        assert dismissed_events[0]["topic"].endswith("dtks.complaint.events")
        assert dismissed_events[0]["partition_key"] == birth["draft_id"]
        assert '"reason": "CIVIL_RECORD_WRONG"' in dismissed_events[0]["envelope"]

        # The receiving village reads the move as a note on its own drafts page.
        elsewhere = await _drafts(client, OTHER_VILLAGE)
        assert elsewhere["items"] == []
        [note] = elsewhere["arrivals"]
        assert (note["nik"], note["from_village"], note["moved_on"]) == (
            members[2].nik,
            VILLAGE,
            "2026-02-03",
        )
        assert move["to_village"] == OTHER_VILLAGE


async def test_a_death_confirmed_by_the_village_becomes_a_correction_proposal_that_is_forwarded(
    service, infra: Infra, topic_prefix: str
):
    """Across the real services: the draft's correction submitted to the proposal service, its
    integrity checked by verification against the civil-registry simulator, forwarded by the
    district; the draft follows it."""
    from dtks_proposal.main import build_app as build_proposal
    from dtks_proposal.testing import settings_for as proposal_settings
    from dtks_synthetic import register_households
    from dtks_verification.harness import POPULATION, Simulator, load_people, running_service, simulator_app
    from dtks_verification.testing import free_port

    alive = {r.nik for r in POPULATION.civil_registry_records() if r.alive and r.moved_to is None}
    household = next(
        h
        for h in register_households(POPULATION)
        if len(h.members) >= 3 and all(m.nik in alive for m in h.members)
    )
    village = household.village_code
    operator = headers(Role.VILLAGE_OPERATOR, village)
    simulator = Simulator(simulator_app(infra), free_port())
    proposal_app = build_proposal(proposal_settings(infra.kafka_bootstrap, infra.database_url, topic_prefix))
    async with (
        simulator.serving() as civil_url,
        running_service(infra.kafka_bootstrap, infra, topic_prefix, civil_url) as verification,
        proposal_app.router.lifespan_context(proposal_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=proposal_app), base_url="http://proposal"
        ) as proposals,
        service() as (app, client),
    ):
        await load_people(civil_url, POPULATION)
        await publish_events(infra.kafka_bootstrap, topic_prefix, registered([household]))

        async def known_to_both() -> bool:
            # The register as the complaints service and verification each project it.
            assert verification.app is not None
            async with verification.app.state.deps.connection() as conn:
                checked = await conn.fetchval(
                    "SELECT count(*) FROM registered_households WHERE household_id = $1",
                    household.household_id,
                )
            conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
            try:
                drafting = await conn.fetchval(
                    "SELECT count(*) FROM register_members WHERE household_id = $1", household.household_id
                )
            finally:
                await conn.close()
            return bool(checked and drafting)

        await wait_until(known_to_both, within=120, what="the registered household projected")
        dead = household.members[1]
        died = PersonDied(
            life_event_id=f"DUK-{uuid.uuid4().hex[:8]}", nik=dead.nik, died_on=dt.date(2026, 2, 1)
        )
        await publish_events(infra.kafka_bootstrap, topic_prefix, [life_event(died)])

        async def drafted() -> bool:
            got = await _drafts(client, village)
            return any(d["life_event_id"] == died.life_event_id for d in got["items"])

        await wait_until(drafted, what="the death's draft")
        [draft] = [
            d for d in (await _drafts(client, village))["items"] if d["life_event_id"] == died.life_event_id
        ]
        assert (draft["proposal_kind"], draft["household_id"]) == ("correction", household.household_id)

        # What the console's pre-filled form sends: the household without the member who died.
        kept = household.model_dump(mode="json", exclude={"programs", "welfare_decile", "field_visit"})
        kept["members"] = [m for m in kept["members"] if m["nik"] != dead.nik]
        body = {
            "kind": "correction",
            "village_code": village,
            "household_id": household.household_id,
            "deliberation": {
                "kind": "muskel",
                "held_on": dt.date.today().isoformat(),
                "minutes_ref": "BA-03/II/2026",
            },
            "household": kept,
            # The life event the proposal is made of, as the console's confirm form sends it.
            "civil_registry_ref": draft["life_event_id"],
        }
        submitted = await proposals.post(
            "/proposals", json=body, headers={**operator, "Idempotency-Key": draft["draft_id"]}
        )
        assert submitted.status_code == 201, submitted.text
        proposal_id = submitted.json()["proposal_id"]
        confirmed = await client.post(
            f"/life-event-drafts/{draft['draft_id']}/confirmation",
            json={"proposal_id": proposal_id},
            headers=operator,
        )
        assert confirmed.status_code == 200, confirmed.text

        await verification.wait_status(proposal_id, "in_tier", within=120)
        forwarded = await verification.http.post(
            "/decisions",
            json={"proposal_id": proposal_id, "tier": "district", "decision": "forward"},
            headers=verification.auth(Role.DISTRICT_VERIFIER, village[:8]),
        )
        assert forwarded.status_code == 200, forwarded.text

        async def following() -> bool:
            got = await client.get(f"/life-event-drafts/{draft['draft_id']}", headers=operator)
            return got.json()["proposal_stage"] == "verifying"

        await wait_until(following, within=60, what="the draft following its proposal past the district")
        proposal = (await proposals.get(f"/proposals/{proposal_id}", headers=operator)).json()
        assert proposal["kind"] == "correction"
        assert dead.nik not in {m["nik"] for m in proposal["content"]["household"]["members"]}
        assert proposal["content"]["civil_registry_ref"] == died.life_event_id
        submitted_events = await _proposal_events(proposal_app, proposal_id)
        assert [
            e["payload"]["civil_registry_ref"]
            for e in submitted_events
            if e["event_type"] == "proposal.submitted"
        ] == [died.life_event_id]
        assert [e["event_type"] for e in await _stream(app, draft["draft_id"])] == [
            "complaint.life_event_draft_confirmed"
        ]
