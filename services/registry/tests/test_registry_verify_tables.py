"""The auditors' verification compares every column the service answers from with the replay, not
only the hashed snapshots: a member's name or NIK, a household's programs or village code, an
envelope of the audit trail or a decree's stored hash altered in the database is reported with its
household (or decree) and table, and the command-line verify then exits non-zero."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiokafka.errors import KafkaConnectionError

from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.audit import ReplaySource, rebuild
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household, produce
from dtks_runtime.errors import DomainError
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

DECREE = "21/HUK/2027"


async def _relayed(registry) -> bool:
    async with registry.pool.acquire() as conn:
        return await registry.runtime.relay.lag(conn) == 0  # type: ignore[union-attr]


def _cli_verify(registry) -> subprocess.CompletedProcess[str]:
    s = registry.settings
    env = {
        **os.environ,
        "DTKS_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "DTKS_DATABASE_URL": s.database_url,
        "DTKS_DATABASE_NAME": s.database_name,
        "DTKS_TOPIC_PREFIX": s.topic_prefix,
        "DTKS_LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [sys.executable, "-m", "dtks_registry.replay_cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_verify_names_each_altered_column_with_its_household_and_table(registry):
    pids = [f"prop-verify-{i}" for i in range(6)]
    accepted = [
        acceptance(pid, accepted_at=ago(2), household=make_household(40 + i), programs=[Program.PKH])
        for i, pid in enumerate(pids)
    ]
    await registry.accept(accepted)
    # A relay's redelivery: the log holds this event twice, and both replays (the register's and the
    # audit trail's, neither with an inbox) must apply it once, as the live consumers did.
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix, accepted[:1])
    h = [household_id_for(pid) for pid in pids]
    issued = await registry.decree(DECREE, "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text
    await wait_until(lambda: _relayed(registry), what="registry events published")

    async def audit_recorded() -> bool:
        return (
            await registry.count(
                "SELECT count(DISTINCT household_id) FROM audit_events WHERE household_id = ANY($1::text[])",
                h,
            )
            == len(h)
            and await registry.count(
                "SELECT count(*) FROM audit_events WHERE event_type = 'registry.determination_issued'"
            )
            == 1
        )

    await wait_until(audit_recorded, what="the audit trail recorded")

    auditor = registry.auth(Role.AUDITOR)
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], json.dumps(verified, default=str)[:3000]
    assert verified["altered"] == {} and all(t["matches"] for t in verified["tables"].values())
    assert set(verified["tables"]) >= {"members", "households", "audit_events", "determinations"}

    # What a careless or hostile insider changes by SQL, none of it in a snapshot's hash.
    async with registry.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE members SET name = 'Orang Lain' WHERE household_id = $1 AND relation_to_head = 'head'",
            h[0],
        )
        await conn.execute(
            "UPDATE members SET nik = '1771019999990001' WHERE household_id = $1 AND relation_to_head = 'spouse'",
            h[1],
        )
        await conn.execute("UPDATE households SET programs = '{PKH,BPNT}' WHERE household_id = $1", h[2])
        await conn.execute(
            "UPDATE households SET village_code = '17.71.09.1001' WHERE household_id = $1", h[3]
        )
        await conn.execute(
            """UPDATE audit_events SET envelope = jsonb_set(envelope, '{payload,village_code}', '"31.71.01.1001"')
               WHERE event_id = (SELECT event_id FROM audit_events WHERE household_id = $1 LIMIT 1)""",
            h[4],
        )
        await conn.execute(
            "UPDATE determinations SET register_hash = repeat('0', 64) WHERE decree_number = $1", DECREE
        )

    result = await asyncio.to_thread(_cli_verify, registry)
    assert result.returncode == 1, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert not report["ok"]
    assert report["altered"] == {
        h[0]: ["members"],
        h[1]: ["members"],
        h[2]: ["households"],
        h[3]: ["households"],
        h[4]: ["audit_events"],
    }
    members = report["tables"]["members"]["differences"]
    assert {(d["key"]["household_id"], d["where"]) for d in members} == {
        (h[0], "differs"),
        (h[1], "live only"),
        (h[1], "replay only"),
    }
    [decree] = report["tables"]["determinations"]["differences"]
    assert decree == {"key": {"decree_number": DECREE}, "households": [], "where": "differs"}
    assert not report["tables"]["households"]["matches"] and report["tables"]["candidates"]["matches"]


async def test_verify_passes_over_audit_events_recorded_after_it_read_the_log_but_not_a_forged_one(registry):
    """A running system goes on producing events (deliveries, escalations) while an auditor verifies:
    the ones the live audit trail records after the replay read the log are not forgeries, and an
    audit row the log never held, recorded before, still is (seen in a fault run: ten delivery events
    recorded during the replay made the whole verify fail)."""
    pid = "prop-verify-late"
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=make_household(60))])
    h = household_id_for(pid)

    async def audit_recorded() -> bool:
        return await registry.count("SELECT count(*) FROM audit_events WHERE household_id = $1", h) >= 1

    await wait_until(audit_recorded, what="the acceptance in the audit trail")

    def audit_row(event_id: str, recorded_at: str) -> tuple[str, str]:
        return (
            f"""INSERT INTO audit_events (event_id, event_type, occurred_at, correlation_id, household_id,
                                          envelope, recorded_at)
                SELECT '{event_id}', event_type, occurred_at, correlation_id, household_id,
                       jsonb_set(envelope, '{{event_id}}', '"{event_id}"'), {recorded_at}
                FROM audit_events WHERE household_id = $1 LIMIT 1""",
            h,
        )

    late = "00000000-0000-4000-8000-00000000a001"  # as if recorded while the replay ran
    forged = "00000000-0000-4000-8000-00000000a002"  # recorded long before, never in the log
    async with registry.pool.acquire() as conn:
        await conn.execute(*audit_row(late, "now() + interval '1 hour'"))
        await conn.execute(*audit_row(forged, "now() - interval '1 hour'"))

    auditor = registry.auth(Role.AUDITOR)
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    audit = verified["tables"]["audit_events"]
    assert audit["differences"] == [{"key": {"event_id": forged}, "households": [h], "where": "live only"}]
    assert not verified["ok"]


async def test_a_replay_or_rebuild_that_fails_leaves_no_schema_behind(registry):
    async def replay_schemas() -> set[str]:
        rows = await registry.pool.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'registry\\_replay\\_%'"
        )
        return {r["nspname"] for r in rows}

    before = await replay_schemas()
    # Its schema is made and migrated, then the broker cannot be reached.
    gone = ReplaySource(registry.runtime.database_url, "127.0.0.1:1", registry.settings.topic_prefix)
    with pytest.raises(KafkaConnectionError):
        await rebuild(gone)
    assert await replay_schemas() == before
    # Replayed, then refused (no such decree): not kept, though keeping was asked for.
    source = ReplaySource(registry.runtime.database_url, registry.settings.kafka_bootstrap,
                          registry.settings.topic_prefix)  # fmt: skip
    with pytest.raises(DomainError, match="is not in the event log"):
        await rebuild(source, as_of_decree="no-such/HUK/2027", keep=True)
    assert await replay_schemas() == before
