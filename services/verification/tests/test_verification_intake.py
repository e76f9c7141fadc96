"""Bulk intake and batch decisions: many events or decisions at once must mean what they mean one
after another (runs of one kind, one row per run, later items seeing the earlier ones)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pydantic
import pytest
from fastapi import FastAPI, Response

from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.events.registry import HouseholdCorrected, HouseholdDeactivated, HouseholdRegistered
from dtks_contracts.household import Household
from dtks_contracts.vocabulary import DeactivationReason, ReasonCode, Role
from dtks_runtime.db import migrate
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import Fault, proposals, register_households
from dtks_verification import consumer
from dtks_verification.adapters import register, rounds
from dtks_verification.adapters.proposals import current_rounds
from dtks_verification.adapters.schema import MIGRATIONS
from dtks_verification.harness import POPULATION, Service, running_service
from dtks_verification.main import CHECKS_WORKER_TASK
from dtks_verification.testing import envelope, http_server, resubmitted, submitted, withdrawn

_draws = iter(range(20_000, 30_000))


def _clean(count: int) -> list[ProposalSubmitted]:
    return [submitted(g.body) for g in proposals(POPULATION, count, seed=next(_draws))]


def _households(count: int) -> list[Household]:
    return list(register_households(POPULATION))[:count]


def _registered(household: Household, corrected: bool = False) -> HouseholdRegistered | HouseholdCorrected:
    assert household.household_id is not None
    cls = HouseholdCorrected if corrected else HouseholdRegistered
    return cls.model_validate(
        {
            "household_id": household.household_id,
            "decree_number": "146/HUK/2026",
            "household": household.model_dump(mode="json"),
            "proposal_id": f"seed-{household.household_id}",
        }
    )


def test_a_batch_is_cut_into_runs_of_one_kind_with_each_row_once() -> None:
    a, b = _clean(2)
    h1, h2 = _households(2)
    assert h2.household_id is not None
    gone = HouseholdDeactivated.model_validate(
        {
            "household_id": h2.household_id,
            "kk_number": h2.kk_number,
            "decree_number": "146/HUK/2026",
            "proposal_id": "seed-gone",
            "reason": next(iter(DeactivationReason)).value,
        }
    )
    events = [
        envelope(a),
        envelope(b),
        envelope(withdrawn(a)),  # another kind: a new run
        envelope(resubmitted(b, 2)),  # b again after a run of another kind
        envelope(_registered(h1)),
        envelope(_registered(h1, corrected=True)),  # h1 twice: the correction waits for a new run
        envelope(gone),
    ]
    cut = consumer.runs(events)
    assert [([r.content.proposal_id for r in run.rounds], run.withdrawals) for run in cut[:3]] == [
        ([a.proposal_id, b.proposal_id], []),
        ([], [a.proposal_id]),
        ([b.proposal_id], []),
    ]
    assert [[s.household_id for s in run.snapshots] for run in cut[3:5]] == [[h1.household_id]] * 2
    assert [d.household_id for d in cut[5].deactivations] == [h2.household_id]
    assert len(cut) == 6
    # A submission and its resubmission back to back also land in different runs.
    assert len(consumer.runs([envelope(a), envelope(resubmitted(a, 2))])) == 2


def test_the_read_ahead_decoder_types_a_batch_as_runs_would_and_leaves_a_bad_payload_to_fail_there() -> None:
    a, b = _clean(2)
    (h1,) = _households(1)
    events = [envelope(a), envelope(withdrawn(a)), envelope(resubmitted(b, 2)), envelope(_registered(h1))]
    decoded = [consumer.decode_event(e.to_bytes()) for e in events]
    # The same envelopes, with the typed payloads carried beside.
    assert [d.model_dump() for d in decoded] == [e.model_dump() for e in events]
    ahead, plain = consumer.runs(decoded), consumer.runs(events)
    assert len(ahead) == len(plain) == 4
    for run_ahead, run_plain in zip(ahead, plain, strict=True):
        assert run_ahead.kind is run_plain.kind
        assert (run_ahead.withdrawals, run_ahead.snapshots) == (run_plain.withdrawals, run_plain.snapshots)
        assert [replace(r, content_json=None) for r in run_ahead.rounds] == run_plain.rounds
    rounds = [r for run in ahead for r in run.rounds]
    assert len(rounds) == 2 and all(r.content_json == r.content.model_dump_json() for r in rounds)
    # A payload that does not type still decodes as an envelope; runs() then fails as it always did.
    bad = envelope(a).model_dump(mode="json")
    bad["payload"]["round"] = "first"
    record = json.dumps(bad).encode()
    broken = consumer.decode_event(record)
    with pytest.raises(pydantic.ValidationError):
        consumer.runs([broken])


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await migrate(connection, "verification", MIGRATIONS)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.mark.infra
async def test_a_person_moving_between_households_of_one_run_ends_in_the_last(
    conn: asyncpg.Connection,
) -> None:
    first, second = _households(2)
    assert first.household_id is not None and second.household_id is not None
    mover = first.members[-1]
    moved = second.model_copy(update={"members": (*second.members, mover)})
    async with conn.transaction():
        await register.register_households(conn, [(first.household_id, first), (second.household_id, moved)])
    rows = dict(await conn.fetch("SELECT nik, household_id FROM registered_people"))
    assert rows[mover.nik] == second.household_id
    assert all(rows[m.nik] == first.household_id for m in first.members[:-1])
    assert len(rows) == len(first.members) + len(second.members)


@pytest.mark.infra
async def test_rounds_started_together_claim_niks_in_arrival_order(conn: asyncpg.Connection) -> None:
    contents = _clean(3)
    async with conn.transaction():
        started = await rounds.start_rounds(
            conn, [rounds.NewRound(c, "corr", f"cause-{i}") for i, c in enumerate(contents)]
        )
        again = await rounds.start_rounds(conn, [rounds.NewRound(contents[0], "corr", "cause-again")])
    assert (started, again) == (3, 0)  # the same round arriving again changes nothing
    seqs = await conn.fetch("SELECT proposal_id FROM proposals ORDER BY seq")
    assert [r["proposal_id"] for r in seqs] == [c.proposal_id for c in contents]
    queued = await conn.fetch("SELECT proposal_id, causation_id FROM pending_checks ORDER BY proposal_id")
    assert {r["proposal_id"]: r["causation_id"] for r in queued} == {
        c.proposal_id: f"cause-{i}" for i, c in enumerate(contents)
    }
    claimed = await conn.fetchval("SELECT count(DISTINCT proposal_id) FROM open_niks")
    assert claimed == 3


@pytest.mark.infra
async def test_intakes_claiming_a_nik_at_once_wait_for_each_other_and_the_later_sees_the_earlier(
    database_url: str, conn: asyncpg.Connection
) -> None:
    candidates = _clean(40)
    a = candidates[0]
    b = a.model_copy(update={"proposal_id": str(uuid.uuid4())})  # the same household, proposed again
    # A proposal whose people were all born in other districts than a's: nothing to wait for.
    elsewhere = next(
        c for c in candidates[1:] if set(rounds.claim_lock_keys([c])).isdisjoint(rounds.claim_lock_keys([a]))
    )
    other = await asyncpg.connect(database_url)
    try:
        first = conn.transaction()
        await first.start()
        await rounds.start_rounds(conn, [rounds.NewRound(a, "corr", "cause-a")])

        async def intake(content: ProposalSubmitted) -> None:
            async with other.transaction():
                await rounds.start_rounds(
                    other, [rounds.NewRound(content, "corr", f"cause-{content.proposal_id}")]
                )

        await asyncio.wait_for(intake(elsewhere), 5)  # another process's batch goes on meanwhile
        later = asyncio.create_task(intake(b))
        await asyncio.sleep(0.5)
        assert not later.done()  # waits for the first intake, which holds the districts of its NIKs
        await first.commit()
        await asyncio.wait_for(later, 10)
    finally:
        await other.close()
    seq = dict(
        await conn.fetch(
            "SELECT proposal_id, seq FROM proposals WHERE proposal_id = ANY($1::text[])",
            [a.proposal_id, b.proposal_id],
        )
    )
    assert seq[a.proposal_id] < seq[b.proposal_id]
    records = await current_rounds(conn, {b.proposal_id: b})
    facts = await register.register_facts(conn, list(records.values()))
    assert a.household is not None
    assert facts[b.proposal_id].earlier_open_proposals == {m.nik: a.proposal_id for m in a.household.members}


@pytest.mark.infra
async def test_one_batch_of_mixed_events_and_repeated_decisions(service: Service) -> None:
    a, b, c = _clean(3)
    # One publish: the consumer sees these in one or a few batches, in this order per proposal.
    await service.publish(
        [envelope(a), envelope(withdrawn(a)), envelope(b), envelope(resubmitted(b, 2)), envelope(c)]
    )
    assert (await service.wait_status(a.proposal_id, "withdrawn"))["status"] == "withdrawn"
    standing = await service.wait_status(b.proposal_id, "in_tier")
    assert standing["round"] == 2 and standing["checks"][-1]["round"] == 2
    await service.wait_status(c.proposal_id, "in_tier")

    # A list naming c twice at the district tier: the second sees the first and is out of turn.
    headers = service.auth(Role.DISTRICT_VERIFIER, c.village_code[:8])
    items = [{"proposal_id": c.proposal_id, "tier": "district", "decision": "forward"}] * 2
    response = await service.http.post("/decisions", json=items, headers=headers)
    body = response.json()
    assert body["succeeded"] == 1, body
    results = body["results"]
    assert results[0]["ok"] and results[0]["tier"] == "regency"
    assert not results[1]["ok"] and results[1]["problem"]["code"] == "out_of_turn"
    decisions = (await service.standing(c.proposal_id))["decisions"]
    assert len(decisions) == 1


@pytest.mark.infra
async def test_the_checks_worker_is_a_supervised_task_whose_death_health_reports(service: Service) -> None:
    health = (await service.http.get("/healthz")).json()
    assert health["status"] == "ok" and health["tasks"][CHECKS_WORKER_TASK] == "running", health
    # The worker survives failed rounds on its own; here it dies as a task can (cancelled).
    (worker,) = [t for t in asyncio.all_tasks() if t.get_name() == CHECKS_WORKER_TASK]
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    health = (await service.http.get("/healthz")).json()
    assert health["status"] == "degraded"
    assert health["stopped_tasks"] == [CHECKS_WORKER_TASK]
    assert health["tasks"][CHECKS_WORKER_TASK] == "cancelled"


@pytest.mark.infra
async def test_intake_checks_the_rounds_it_starts_in_its_own_transaction(service: Service) -> None:
    generated = proposals(POPULATION, 6, {Fault.NAME_MISMATCH: 1}, seed=next(_draws))
    contents = [submitted(g.body) for g in generated]
    await service.publish([envelope(c) for c in contents])
    for g, c in zip(generated, contents, strict=True):
        standing = await service.wait_status(c.proposal_id, "in_tier", "returned")
        assert standing["status"] == ("returned" if g.fault else "in_tier"), standing
        (check,) = standing["checks"]
        codes = {f["code"] for f in check["findings"]}
        assert codes == ({ReasonCode.NAME_MISMATCH.value} if g.fault else set()), codes
    # Concluded by intake beside its inbox rows: nothing queued, nothing left to the worker.
    assert service.app is not None
    assert service.app.state.intake.checked == len(contents)
    assert service.app.state.intake.queued == 0
    assert service.app.state.checks_worker.checked == 0


@pytest.mark.infra
async def test_an_unreadable_civil_registry_answer_queues_the_checks_and_dead_letters_nothing(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str
) -> None:
    # A registry that answers 200 with something that is not JSON: the proposals are not at fault.
    garbled = FastAPI()

    @garbled.post("/people/lookup")
    async def lookup() -> Response:
        return Response(b"<html>maintenance</html>", media_type="application/json")

    async with (
        http_server(garbled) as url,
        running_service(kafka_bootstrap, infra, topic_prefix, url) as service,
    ):
        contents = _clean(3)
        await service.publish([envelope(c) for c in contents])

        async def all_queued() -> bool:
            standings = [await service.standing(c.proposal_id) for c in contents]
            return all(s.get("pending_check") for s in standings)

        await wait_until(all_queued, 30, "the entry checks queued for the worker")
        health = (await service.http.get("/healthz")).json()
        assert health["consumers"]["verification"]["dead_lettered"] == 0
        for c in contents:
            standing = await service.standing(c.proposal_id)
            assert standing["status"] == "checking" and standing["checks"] == []
