"""The decree keys are found by their own index, whatever the length of the log.

Each decree looks up the active key, and the public keys endpoint lists them all. Both once walked
the events table (backwards from its end, or whole): at a national register's tens of millions of
events, every decree and every anonymous request read the log.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from dtks_registry.adapters import decree_chain

pytestmark = pytest.mark.infra

LOG = 50_000  # household events after the keys: the part of the log a walk would read


async def _key_event(conn: asyncpg.Connection, key_id: str, previous: str | None) -> None:
    payload = {"key_id": key_id, "public_key": "00" * 32, "previous_key_id": previous}
    await conn.execute(
        """INSERT INTO events (stream_id, stream_version, event_id, event_type, topic, partition_key, envelope)
           VALUES ($1, 1, gen_random_uuid(), 'registry.decree_key_activated', 'dtks.registry.events', $1,
                   jsonb_build_object('payload', $2::jsonb))""",
        f"decree_key:{key_id}",
        json.dumps(payload),
    )


def _nodes(plan: Any) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    nodes = [plan]
    for child in plan.get("Plans", ()):
        nodes += _nodes(child)
    return nodes


async def test_keys_are_read_through_their_index_not_the_log(registry_schema: asyncpg.Connection) -> None:
    conn = registry_schema
    await _key_event(conn, "k-old", None)
    await _key_event(conn, "k-new", "k-old")
    await conn.execute(
        """INSERT INTO events (stream_id, stream_version, event_id, event_type, topic, partition_key, envelope)
           SELECT 'household:' || i, 1, gen_random_uuid(), 'registry.household_registered',
                  'dtks.registry.events', i::text, '{"payload": {}}'::jsonb
           FROM generate_series(1, $1) AS i""",
        LOG,
    )
    await conn.execute("ANALYZE events")

    assert await decree_chain.active_key_id(conn) == "k-new"
    assert [k["key_id"] for k in await decree_chain.recorded_keys(conn)] == ["k-old", "k-new"]
    for sql in (decree_chain.ACTIVE_KEY_SQL, decree_chain.RECORDED_KEYS_SQL):
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))[0]["Plan"]
        scans = [n for n in _nodes(plan) if n.get("Relation Name") == "events"]
        assert [(n["Node Type"], n.get("Index Name")) for n in scans] in (
            [("Index Scan", "events_decree_keys")],
            [("Index Scan Backward", "events_decree_keys")],
            [("Bitmap Heap Scan", None)],
        ), scans
        # Whatever the node, the rows it looked at are the keys', not the log's.
        assert sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in scans) <= 2
