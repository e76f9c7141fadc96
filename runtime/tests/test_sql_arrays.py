"""Array parameters sent as literals must reach PostgreSQL exactly as the lists they stand for, and
the SQL around them comes only in the forms that cast the literal once."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from dtks_runtime.sql_arrays import in_literal, plain_array, text_array, unnest_literals


@pytest.mark.infra
async def test_array_literals_round_trip_awkward_text_nulls_dates_uuids_and_numbers(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        texts = ["a", 'b"c', "d\\e", "f,g", "{h}", " spaced ", "", None, "NULL", "ünï", "x\ny"]
        assert await conn.fetchval("SELECT $1::text::text[]", text_array(texts)) == texts
        assert await conn.fetchval("SELECT $1::text::text[]", text_array([])) == []
        plain = ["1771010101010001", "a b", "{x}", "ünï", ""]  # nothing to escape: the quick path
        assert await conn.fetchval("SELECT $1::text::text[]", text_array(plain)) == plain
        dates = [dt.date(2020, 1, 2), dt.date(1949, 12, 31)]
        assert await conn.fetchval("SELECT $1::text::date[]", plain_array(dates)) == dates
        ids = [uuid.uuid4(), uuid.uuid4()]
        assert await conn.fetchval("SELECT $1::text::uuid[]", plain_array(ids)) == ids
        assert await conn.fetchval("SELECT $1::text::bigint[]", plain_array([1, -2, 2**40])) == [1, -2, 2**40]
    finally:
        await conn.close()


def test_the_sql_fragments_cast_each_literal_once_and_refuse_what_is_not_a_parameter() -> None:
    assert unnest_literals("text", "int", first=3) == "unnest($3::text::text[], $4::text::int[])"
    assert in_literal(2) == "IN (SELECT unnest($2::text::text[]))"
    assert in_literal(1, "bigint") == "IN (SELECT unnest($1::text::bigint[]))"
    with pytest.raises(ValueError):
        in_literal(0)
    with pytest.raises(ValueError):
        unnest_literals("text[]); DROP TABLE x; --")
    with pytest.raises(ValueError):
        unnest_literals()


@pytest.mark.infra
async def test_the_fragments_find_rows_by_index_under_a_generic_plan(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """CREATE TEMPORARY TABLE people (nik text PRIMARY KEY, n int NOT NULL);
               INSERT INTO people SELECT g::text, g FROM generate_series(1, 20000) AS g; ANALYZE people"""
        )
        # A generic plan is what a prepared statement falls back to after its first runs.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        member = await conn.prepare(f"SELECT n FROM people WHERE nik {in_literal(1)} ORDER BY n")
        assert [r["n"] for r in await member.fetch(text_array(["7", "19999", "none"]))] == [7, 19999]
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {member.get_query()}", text_array(["7"])))
        assert "Seq Scan on people" not in plan, plan
        joined = await conn.fetch(
            f"""SELECT x.k, p.n FROM {unnest_literals("text", "int")} AS x(k, w)
                JOIN people p ON p.nik = x.k WHERE p.n = x.w ORDER BY 1""",
            text_array(["5", "6"]),
            plain_array([5, 60]),
        )
        assert [tuple(r) for r in joined] == [("5", 5)]
    finally:
        await conn.close()
