"""The region filter every service reads a region with: a region's own code and the codes under it,
nothing else, at every level of region."""

from __future__ import annotations

import asyncpg
import pytest

from dtks_runtime.region_reads import region_filter

pytestmark = pytest.mark.infra

CODES = [
    "17", "17.71", "17.71.01", "17.71.01.1001", "17.71.01.2005", "17.71.02.1001", "17.71.010",
    "17.710.1", "17.7", "17.72.01.1001", "170", "18.71.01.1001", "1", "16.99.99.2999",
]  # fmt: skip


@pytest.mark.parametrize(
    ("region", "inside"),
    [
        ("ID", CODES),
        ("17", [c for c in CODES if c == "17" or c.startswith("17.")]),
        ("17.71", ["17.71", "17.71.01", "17.71.01.1001", "17.71.01.2005", "17.71.02.1001", "17.71.010"]),
        ("17.71.01", ["17.71.01", "17.71.01.1001", "17.71.01.2005"]),
        ("17.71.01.1001", ["17.71.01.1001"]),
        ("17.7", ["17.7"]),
    ],
)
async def test_a_region_keeps_its_own_code_and_the_codes_under_it(
    database_url: str, region: str, inside: list[str]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch(
            f"SELECT c FROM unnest($2::text[]) AS t(c) WHERE {region_filter('c', 1)} ORDER BY c",
            region,
            CODES,
        )
    finally:
        await conn.close()
    assert [r["c"] for r in found] == sorted(inside)
