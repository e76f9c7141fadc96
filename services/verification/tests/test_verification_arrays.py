"""Array parameters sent as literals must reach PostgreSQL exactly as the lists they stand for."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from dtks_verification.adapters.arrays import plain_array, text_array

pytestmark = pytest.mark.infra


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
