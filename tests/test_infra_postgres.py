"""The local database is a real PostgreSQL reached with asyncpg."""

import asyncpg
import pytest

pytestmark = pytest.mark.infra


async def test_round_trip_through_postgres(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE household (kk_number text PRIMARY KEY, members jsonb NOT NULL)")
        await conn.execute(
            "INSERT INTO household VALUES ($1, $2::jsonb)",
            "1771010101010001",
            '[{"nik": "1771015203850001"}]',
        )
        row = await conn.fetchrow("SELECT kk_number, members->0->>'nik' AS nik FROM household")
        assert row is not None
        assert (row["kk_number"], row["nik"]) == ("1771010101010001", "1771015203850001")
        version = await conn.fetchval("SHOW server_version_num")
        assert int(version) >= 150000
    finally:
        await conn.close()
