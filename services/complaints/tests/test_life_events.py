"""Life events from the civil registry open one draft proposal each for the registered household they
touch; unknown people are counted and dropped, undecodable records dead-lettered."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from dtks_complaints.testing import OTHER_VILLAGE, VILLAGE, headers

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.civil_registry import ChildBorn, PersonDied, PersonMoved
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.household import Household
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.dead_letters import list_dead_letters
from dtks_runtime.testing import Infra, publish_events, wait_until

pytestmark = pytest.mark.infra

UNKNOWN_NIK = "1771014501990009"


def _households() -> tuple[Household, Household]:
    """A registered household of several members and one of a single member, in VILLAGE."""
    from dtks_synthetic import generate_population, proposals

    population = generate_population(VILLAGE[:5], people=4000, seed=3)
    bodies = [p.body["household"] for p in proposals(population, 4, seed=3, village_code=VILLAGE)]
    big = next(h for h in bodies if len(h["members"]) >= 3)
    other = next(h for h in bodies if h is not big)
    head = next(m for m in other["members"] if m["relation_to_head"] == "head")
    alone = {**other, "members": [head]}
    return (
        Household.model_validate({**big, "household_id": "H-BIG"}),
        Household.model_validate({**alone, "household_id": "H-ALONE"}),
    )


def _envelope(payload: EventPayload) -> EventEnvelope:
    return EventEnvelope.new(payload, aggregate_version=1, actor=None)


async def _count(app: Any, sql: str) -> int:
    conn = await asyncpg.connect(app.state.deps.runtime.runtime.database_url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_each_life_event_opens_one_draft_for_its_household_and_unknown_people_are_counted(
    service, infra: Infra, topic_prefix: str
):
    big, alone = _households()
    async with service() as (app, client):
        registered = [
            HouseholdRegistered(
                household_id=h.household_id, decree_number="1/HUK/2026", household=h, proposal_id=f"P-{i}"
            )
            for i, h in enumerate((big, alone))
        ]
        await publish_events(infra.kafka_bootstrap, topic_prefix, [_envelope(e) for e in registered])

        async def register_known() -> bool:
            return await _count(app, "SELECT count(*) FROM register_members") == len(big.members) + 1

        await wait_until(register_known, what="the registered households projected")

        died = _envelope(PersonDied(life_event_id="L-1", nik=big.members[1].nik, died_on=dt.date(2026, 2, 1)))
        # The civil registry publishing the same life event again, under a new envelope.
        died_again = _envelope(
            PersonDied(life_event_id="L-1", nik=big.members[1].nik, died_on=dt.date(2026, 2, 1))
        )
        last_died = _envelope(
            PersonDied(life_event_id="L-2", nik=alone.members[0].nik, died_on=dt.date(2026, 2, 2))
        )
        moved = _envelope(
            PersonMoved(
                life_event_id="L-3",
                nik=big.members[2].nik,
                from_village=VILLAGE,
                to_village=OTHER_VILLAGE,
                moved_on=dt.date(2026, 2, 3),
            )
        )
        born = _envelope(
            ChildBorn(
                life_event_id="L-4",
                nik="1771014502260001",
                kk_number=big.kk_number,
                parent_niks=(big.members[0].nik,),
                born_on=dt.date(2026, 2, 5),
            )
        )
        stranger = _envelope(PersonDied(life_event_id="L-5", nik=UNKNOWN_NIK, died_on=dt.date(2026, 2, 6)))
        await publish_events(
            infra.kafka_bootstrap, topic_prefix, [died, died, died_again, last_died, moved, born, stranger]
        )
        # And a record no one can read.
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                CIVIL_REGISTRY_EVENTS.with_prefix(topic_prefix).name, b"{not json", key=b"L-6"
            )
        finally:
            await producer.stop()

        operator = headers(Role.VILLAGE_OPERATOR, VILLAGE)

        async def settled() -> bool:
            got = (
                await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)
            ).json()
            return len(got["items"]) >= 4 and got["tallies"].get("unknown_nik") == 1

        await wait_until(settled, what="four drafts and the stranger counted")
        got = (await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)).json()
        drafts = {d["life_event_id"]: d for d in got["items"]}
        assert set(drafts) == {"L-1", "L-2", "L-3", "L-4"}
        assert (drafts["L-1"]["proposal_kind"], drafts["L-1"]["household_id"]) == ("correction", "H-BIG")
        assert (drafts["L-2"]["proposal_kind"], drafts["L-2"]["deactivation_reason"]) == (
            "deactivation",
            "died",
        )
        assert drafts["L-3"]["proposal_kind"] == "correction" and OTHER_VILLAGE in drafts["L-3"]["note"]
        assert drafts["L-4"]["household_id"] == "H-BIG"
        assert await _count(app, "SELECT count(*) FROM life_event_drafts") == 4

        async def dead_lettered() -> bool:
            letters = await list_dead_letters(infra.kafka_bootstrap, "complaint-life-events", topic_prefix)
            return len(letters) == 1

        await wait_until(dead_lettered, what="the unreadable record dead-lettered")
        assert (await client.get("/healthz")).json()["status"] == "ok"


async def test_a_death_published_by_the_civil_registry_simulator_twice_opens_one_draft(
    service, infra: Infra, topic_prefix: str
):
    from dtks_civil_registry.main import build_app as build_simulator
    from dtks_civil_registry.settings import CivilRegistrySettings

    big, _ = _households()
    simulator = build_simulator(
        CivilRegistrySettings(
            kafka_bootstrap=infra.kafka_bootstrap,
            database_url=infra.database_url,
            database_name=f"civil_{uuid.uuid4().hex[:8]}",
            topic_prefix=topic_prefix,
        )
    )
    async with (
        service() as (app, client),
        simulator.router.lifespan_context(simulator),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator), base_url="http://civil") as civil,
    ):
        registered = HouseholdRegistered(
            household_id="H-BIG", decree_number="1/HUK/2026", household=big, proposal_id="P-1"
        )
        await publish_events(infra.kafka_bootstrap, topic_prefix, [_envelope(registered)])

        async def register_known() -> bool:
            return await _count(app, "SELECT count(*) FROM register_members") == len(big.members)

        await wait_until(register_known, what="the registered household projected")
        death = {
            "event_type": "civil_registry.person_died",
            "payload": {"life_event_id": "DUK-77", "nik": big.members[1].nik, "died_on": "2026-02-01"},
        }
        for _ in range(2):
            sent = await civil.post("/admin/life-events", json={"events": [death]})
            assert sent.status_code == 200, sent.text
        bad = await civil.post(
            "/admin/life-events", json={"events": [{**death, "payload": {"nik": "123", "died_on": "x"}}]}
        )
        assert bad.status_code == 422

        operator = headers(Role.VILLAGE_OPERATOR, VILLAGE)

        async def drafted() -> bool:
            got = (
                await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)
            ).json()
            return got["tallies"].get("repeated") == 1

        await wait_until(drafted, what="both deliveries of the death handled")
        got = (await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)).json()
        assert [(d["life_event_id"], d["proposal_kind"]) for d in got["items"]] == [("DUK-77", "correction")]


async def test_a_batch_of_life_events_delivered_again_opens_no_draft_and_counts_nothing_twice(
    service, infra: Infra, topic_prefix: str
):
    big, alone = _households()
    async with service() as (app, client):
        registered = [
            HouseholdRegistered(
                household_id=h.household_id, decree_number="1/HUK/2026", household=h, proposal_id=f"P-{i}"
            )
            for i, h in enumerate((big, alone))
        ]
        await publish_events(infra.kafka_bootstrap, topic_prefix, [_envelope(e) for e in registered])

        async def register_known() -> bool:
            return await _count(app, "SELECT count(*) FROM register_members") == len(big.members) + 1

        await wait_until(register_known, what="the registered households projected")
        day = dt.date(2026, 3, 1)
        # Hundreds of strangers around a few known people, so the drafts share batches with them.
        strangers = [
            _envelope(PersonDied(life_event_id=f"S-{i}", nik=f"177101450199{i + 100:04d}", died_on=day))
            for i in range(300)
        ]
        known = [
            _envelope(PersonDied(life_event_id="K-1", nik=big.members[1].nik, died_on=day)),
            _envelope(PersonDied(life_event_id="K-1", nik=big.members[1].nik, died_on=day)),  # republished
            _envelope(PersonDied(life_event_id="K-2", nik=alone.members[0].nik, died_on=day)),
            _envelope(
                ChildBorn(
                    life_event_id="K-3",
                    nik="1771014503260001",
                    kk_number=big.kk_number,
                    # A parent not in the register first: the household is found by the other.
                    parent_niks=(UNKNOWN_NIK, big.members[0].nik),
                    born_on=day,
                )
            ),
        ]
        batch = strangers[:150] + known + strangers[150:]
        await publish_events(infra.kafka_bootstrap, topic_prefix, batch)

        async def all_counted() -> bool:
            return await _count(app, "SELECT coalesce(sum(count), 0) FROM life_event_tallies") == len(batch)

        await wait_until(all_counted, what="every life event of the batch counted")
        operator = headers(Role.VILLAGE_OPERATOR, VILLAGE)
        first = (await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)).json()
        assert first["tallies"] == {"drafted": 3, "repeated": 1, "unknown_nik": 300}
        drafts = {d["life_event_id"]: d for d in first["items"]}
        assert set(drafts) == {"K-1", "K-2", "K-3"}
        assert drafts["K-3"]["household_id"] == "H-BIG"
        assert (drafts["K-2"]["proposal_kind"], drafts["K-2"]["person_name"]) == (
            "deactivation",
            alone.members[0].name,
        )

        # The same records again, as after a crash between the batch's commit and its offsets.
        consumer = next(
            c for c in app.state.deps.runtime.runtime.consumers if c.name == "complaint-life-events"
        )
        seen_before = consumer.stats.duplicates
        await publish_events(infra.kafka_bootstrap, topic_prefix, batch)

        async def dropped() -> bool:
            return consumer.stats.duplicates - seen_before == len(batch)

        await wait_until(dropped, what="the batch delivered again and dropped")
        again = (await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)).json()
        assert again == first
        assert await _count(app, "SELECT count(*) FROM life_event_drafts") == 3


async def test_people_loaded_into_the_simulator_as_dead_or_moved_open_drafts_once(
    service, infra: Infra, topic_prefix: str
):
    from dtks_civil_registry.main import build_app as build_simulator
    from dtks_civil_registry.settings import CivilRegistrySettings

    big, _ = _households()
    simulator = build_simulator(
        CivilRegistrySettings(
            kafka_bootstrap=infra.kafka_bootstrap,
            database_url=infra.database_url,
            database_name=f"civil_{uuid.uuid4().hex[:8]}",
            topic_prefix=topic_prefix,
        )
    )
    people = [
        {
            "nik": m.nik,
            "name": m.name,
            "birth_date": m.birth_date.isoformat(),
            "sex": m.sex.value,
            "kk_number": big.kk_number,
            "address": "Jl. Merapi No. 12",
            "village_code": VILLAGE,
        }
        for m in big.members
    ]
    async with (
        service() as (app, client),
        simulator.router.lifespan_context(simulator),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator), base_url="http://civil") as civil,
    ):
        registered = HouseholdRegistered(
            household_id="H-BIG", decree_number="1/HUK/2026", household=big, proposal_id="P-1"
        )
        await publish_events(infra.kafka_bootstrap, topic_prefix, [_envelope(registered)])

        async def register_known() -> bool:
            return await _count(app, "SELECT count(*) FROM register_members") == len(big.members)

        await wait_until(register_known, what="the registered household projected")
        loaded = await civil.post("/people", params={"emit_life_events": "true"}, json={"people": people})
        assert loaded.status_code == 200, loaded.text
        dead = {**people[1], "alive": False, "died_on": "2026-02-01"}
        moved = {**people[2], "moved_to": OTHER_VILLAGE, "moved_on": "2026-02-03"}
        for _ in range(2):  # the same file loaded twice tells the same once
            again = await civil.post(
                "/people", params={"emit_life_events": "true"}, json={"people": [dead, moved]}
            )
            assert again.status_code == 200, again.text

        operator = headers(Role.VILLAGE_OPERATOR, VILLAGE)

        async def drafted() -> bool:
            got = (
                await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)
            ).json()
            return len(got["items"]) >= 2

        await wait_until(drafted, what="the death's and the move's drafts")
        got = (await client.get("/life-event-drafts", params={"region": VILLAGE}, headers=operator)).json()
        assert sorted((d["event_type"], d["nik"]) for d in got["items"]) == [
            ("civil_registry.person_died", dead["nik"]),
            ("civil_registry.person_moved", moved["nik"]),
        ]
        assert got["tallies"] == {"drafted": 2}
