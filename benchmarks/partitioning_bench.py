"""Does declarative partitioning by province pay for the register's tables (#21)?

``python -m benchmarks partitioning``; not in the default ``make bench``. The register in force
(``households``, ``members``) at ``DTKS_BENCH_PARTITION_HOUSEHOLDS`` households (default 1,000,000)
across every regency's villages, in two layouts in one database:

- **as deployed**: the registry's own tables, made by its migrations (a primary key on the
  household id, indexes on the village code, the family card and the NIK);
- **by province**: the same columns plus ``province`` (the village code's first two digits), each
  table ``PARTITION BY LIST (province)`` with one partition per province. PostgreSQL has no index
  across partitions, so a unique key must hold the partition key: the household's key becomes
  (province, household id), and a lookup that does not know the province visits every partition.

The same reads are timed on both from one client (p50 and p99 of ``DTKS_BENCH_PARTITION_QUERIES``
each, after a warm-up), with the number of partitions each one's plan visits: a household by its id
(the decree's standing, GET /households/{id}), the citizens' check (members by NIK, then their
households), a district's first page of households (GET /households?region=) and a province's
counts (GET /stats). The partitioned layout is given the province where the caller knows it (the
region's code), as a partitioned registry would have to.

Each read is timed twice: as a service's prepared statement runs it (PostgreSQL may settle on one
generic plan after five executions) and planned for each execution (``plan_cache_mode``).

What it showed (2 cores, 6 December; p50 ms, one client, as deployed against by province). At a
million: a household by its id 0.3 against 0.9 (38 partitions probed); the citizens' check 0.3
against 1.3 (76 probed); a province's counts 75.9 against 14.1; tables and indexes 2,186 against
2,483 MB. A district's first page 617.3 against 2.4 as a prepared statement, because the deployed
layout's settles on a generic plan that walks the whole register in id order (Limit > Index Scan
households_pkey, 735.6 ms); planned per execution it reads the village index (0.4 ms, p50 1.6). At
200,000 all of these were under 10 ms either way. Those figures are of the page as one query in id
order over the village index of that day; the page is now read as the registry reads it since
(``api.HOUSEHOLD_PAGE_SQL``: its ids from the covering village index, then its rows), not re-run yet.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence

import asyncpg

from benchmarks.figures import Figure
from benchmarks.governance_bench import _villages
from benchmarks.scratch import scratch_connection
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.testing import make_household
from dtks_runtime import event_store
from dtks_runtime.db import migrate
from dtks_runtime.region_reads import region_filter
from dtks_runtime.testing import Infra

HOUSEHOLDS = int(os.environ.get("DTKS_BENCH_PARTITION_HOUSEHOLDS", "1000000"))
QUERIES = int(os.environ.get("DTKS_BENCH_PARTITION_QUERIES", "2000"))
WARM_UP = 200
BATCH = 20_000  # rows copied at a time
TEMPLATES = 500  # distinct snapshots (their size and shape matter here, not their content)

# The partitioned layout: the registry's columns for these two tables, and the province.
_BY_PROVINCE = """
    CREATE TABLE households (
        province            text NOT NULL,
        household_id        text COLLATE "C" NOT NULL,
        kk_number           text    NOT NULL,
        village_code        text    NOT NULL,
        active              boolean NOT NULL,
        snapshot            jsonb   COMPRESSION lz4 NOT NULL,
        digest              text    NOT NULL,
        programs            text[]  NOT NULL,
        people              integer NOT NULL,
        registered_in       text    NOT NULL,
        last_decree         text    NOT NULL,
        deactivation_reason text,
        deactivated_in      text,
        PRIMARY KEY (province, household_id)
    ) PARTITION BY LIST (province);
    CREATE INDEX households_kk ON households (kk_number);
    CREATE INDEX households_village_page ON households (village_code text_pattern_ops, household_id)
        INCLUDE (active);
    CREATE INDEX households_id ON households (household_id);
    CREATE TABLE members (
        province         text NOT NULL,
        household_id     text COLLATE "C" NOT NULL,
        nik              text NOT NULL,
        name             text NOT NULL,
        relation_to_head text NOT NULL,
        PRIMARY KEY (province, household_id, nik)
    ) PARTITION BY LIST (province);
    CREATE INDEX members_nik ON members (nik);
"""

_BY_ID = "SELECT household_id, village_code, snapshot::text FROM households WHERE household_id = $1"
_CHECK = """SELECT h.household_id, h.programs FROM households h
            WHERE h.household_id IN (SELECT household_id FROM members WHERE nik = $1)"""
# As the registry reads a page (api.HOUSEHOLD_PAGE_SQL): its ids from the village index, then its rows.
_PAGE = f"""SELECT household_id, village_code, snapshot::text FROM households
            WHERE household_id IN (
                SELECT household_id FROM households WHERE {region_filter("village_code", 1)} {{province}}
                ORDER BY household_id LIMIT 100) {{province}}
            ORDER BY household_id"""
_COUNTS = f"""SELECT count(*), coalesce(sum(people), 0) FROM households
              WHERE active AND {region_filter("village_code", 1)} {{province}}"""


def _rows(villages: Sequence[str], templates: Sequence[str]) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Batches of (households, members) rows: four members a household, NIKs unique."""
    for start in range(0, HOUSEHOLDS, BATCH):
        households, members = [], []
        for i in range(start, min(HOUSEHOLDS, start + BATCH)):
            hid, village = str(uuid.UUID(int=i)), villages[(i * 7919) % len(villages)]
            households.append((hid, f"{i:016d}", village, True, templates[i % len(templates)], f"{i:064x}",
                               ["PKH"], 4, "1/HUK/2026", "1/HUK/2026", None, None))  # fmt: skip
            members += [
                (hid, f"{9 * 10**15 + 4 * i + k:016d}", f"Anggota {k}", "KEPALA KELUARGA") for k in range(4)
            ]
        yield households, members


async def _load(conn: asyncpg.Connection, villages: list[str]) -> None:
    templates = [make_household(i).model_dump_json() for i in range(TEMPLATES)]
    await conn.execute('SET search_path = "as_deployed"')
    for households, members in _rows(villages, templates):
        await conn.copy_records_to_table("households", records=households, schema_name="as_deployed")
        await conn.copy_records_to_table("members", records=members, schema_name="as_deployed")
    await conn.execute('SET search_path = "by_province"')
    await conn.execute(_BY_PROVINCE)
    for province in sorted({v[:2] for v in villages}):
        await conn.execute(
            f"""CREATE TABLE households_{province} PARTITION OF households FOR VALUES IN ('{province}');
                CREATE TABLE members_{province} PARTITION OF members FOR VALUES IN ('{province}')"""
        )
    await conn.execute(
        """INSERT INTO households SELECT left(village_code, 2), h.* FROM as_deployed.households h;
           INSERT INTO members SELECT left(h.village_code, 2), m.*
           FROM as_deployed.members m JOIN as_deployed.households h USING (household_id)"""
    )
    for schema in ("as_deployed", "by_province"):
        await conn.execute(f'SET search_path = "{schema}"')
        for table in ("households", "members"):  # one statement each: VACUUM runs outside a transaction
            await conn.execute(f"VACUUM ANALYZE {table}")


async def _plan(conn: asyncpg.Connection, sql: str, *args: str) -> tuple[int, str]:
    """The plan the statement runs as a prepared statement does under the session's plan_cache_mode
    (executed six times first: PostgreSQL weighs a generic plan after five): how many tables (or
    partitions) it scans, and its outline with its execution time."""
    literals = [await conn.fetchval("SELECT quote_literal($1)", a) for a in args]
    await conn.execute(f"PREPARE planned AS {sql}")
    try:
        for _ in range(6):
            await conn.execute(f"EXECUTE planned({', '.join(literals)})")
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE planned({', '.join(literals)})")
        )[0]
    finally:
        await conn.execute("DEALLOCATE planned")
    relations: set[str] = set()
    outline: list[str] = []

    def walk(node: dict, depth: int) -> None:
        if "Relation Name" in node and node.get("Actual Loops", 1) > 0:
            relations.add(node["Relation Name"])
        if depth < 3:
            outline.append(" ".join(filter(None, (node["Node Type"], node.get("Index Name")))))
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"], 0)
    return len(relations), f"{' > '.join(outline)}, {plan['Execution Time']:.1f} ms"


async def _timed(conn: asyncpg.Connection, sql: str, args_of: list[tuple]) -> tuple[float, float]:
    statement = await conn.prepare(sql)
    for args in args_of[:WARM_UP]:
        await statement.fetch(*args)
    latencies = []
    for args in args_of[WARM_UP:]:
        started = time.perf_counter()
        await statement.fetch(*args)
        latencies.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def run(infra: Infra) -> list[Figure]:
    async with scratch_connection(infra) as conn:
        return await _measure(conn)


async def _measure(conn: asyncpg.Connection) -> list[Figure]:
    figures: list[Figure] = []
    await conn.execute(
        'CREATE SCHEMA as_deployed; CREATE SCHEMA by_province; SET search_path = "as_deployed"'
    )
    await event_store.install(conn)
    await migrate(conn, "registry", MIGRATIONS)
    villages = _villages()
    started = time.perf_counter()
    await _load(conn, villages)
    figures.append(Figure("load both layouts", HOUSEHOLDS / (time.perf_counter() - started), "households/s",
                          f"{HOUSEHOLDS:,} households, {len({v[:2] for v in villages})} provinces"))  # fmt: skip
    n = WARM_UP + QUERIES
    ids = [(str(uuid.UUID(int=(k * 104_729) % HOUSEHOLDS)),) for k in range(n)]
    niks = [(f"{9 * 10**15 + 4 * ((k * 104_729) % HOUSEHOLDS) + 1:016d}",) for k in range(n)]
    districts = sorted({v.rsplit(".", 1)[0] for v in villages})
    pages = [(districts[(k * 7919) % len(districts)],) for k in range(n)]
    provinces = sorted({v[:2] for v in villages})
    counts = [(provinces[k % len(provinces)],) for k in range(n)]
    reads = [
        ("a household by its id", _BY_ID, ids),
        ("the citizens' check", _CHECK, niks),
        ("a district's first page", _PAGE, pages),
        ("a province's counts", _COUNTS, counts),
    ]
    for schema in ("as_deployed", "by_province"):
        await conn.execute(f'SET search_path = "{schema}"')
        size = await conn.fetchval(
            """SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relname ~ '^(households|members)' AND c.relkind = 'r'""",
            schema,
        )
        figures.append(Figure(f"{schema}: tables and indexes", size / 1e6, "MB", ""))
        for name, sql, args_of in reads:
            # The partitioned layout is told the province wherever the caller knows it.
            if "{province}" in sql:
                sql = sql.format(province="AND province = left($1, 2)" if schema == "by_province" else "")
            # As a service's prepared statement runs (PostgreSQL may settle on a generic plan after
            # five executions), and planned for each execution's region.
            for mode, said in (("auto", ""), ("force_custom_plan", ", planned per execution")):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                visited, outline = await _plan(conn, sql, *args_of[0])
                p50, p99 = await _timed(conn, sql, args_of)
                figures += [
                    Figure(f"{schema}: {name}{said} p50", p50, "ms", f"{QUERIES:,} from 1 client; {visited} table(s) scanned"),
                    Figure(f"{schema}: {name}{said} p99", p99, "ms", f"plan: {outline}"),
                ]  # fmt: skip
    return figures
