"""The members table follows each household's latest snapshot, however its changes fall into batches.

A household first registered in a batch has no members to replace, so the writer skips the delete
for it; one changed later has them replaced. Both are checked here, in one batch and across two."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from dtks_registry.adapters.projection import HouseholdChange, write_household_changes
from dtks_registry.testing import make_household, nik

pytestmark = pytest.mark.infra


def _change(kind: str, household_id: str, decree: str, i: int, name: str) -> HouseholdChange:
    household = make_household(i, household_id=household_id, head_name=name)
    return HouseholdChange(
        uuid.uuid4(), kind, household_id, decree, f"p-{decree}-{household_id}", household.kk_number,
        household=household, digest=f"{kind}-{decree}",
    )  # fmt: skip


async def _members(conn: asyncpg.Connection) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for r in await conn.fetch("SELECT household_id, nik, name FROM members"):
        out.setdefault(r["household_id"], set()).add((r["nik"], r["name"]))
    return out


async def test_members_follow_the_latest_snapshot_in_one_batch_and_across_batches(registry_schema):
    conn = registry_schema
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    async with conn.transaction():
        await write_household_changes(conn, [
            _change("registered", a, "1/2027", 1, "Siti Aminah"),
            _change("registered", b, "1/2027", 2, "Siti Aminah"),
            # Registered and corrected in one batch: only the correction's members, once.
            _change("registered", c, "1/2027", 3, "Siti Aminah"),
            _change("corrected", c, "2/2027", 4, "Rina Wati"),
        ])  # fmt: skip
    assert await _members(conn) == {
        a: {(nik(2, female=True), "Siti Aminah"), (nik(3), "Budi Santoso")},
        b: {(nik(4, female=True), "Siti Aminah"), (nik(5), "Budi Santoso")},
        c: {(nik(8, female=True), "Rina Wati"), (nik(9), "Budi Santoso")},
    }
    async with conn.transaction():
        # A later batch: a's members are replaced (other NIKs, so nothing of the old may remain),
        # and a redelivered registration of b changes nothing.
        await write_household_changes(conn, [
            _change("corrected", a, "3/2027", 5, "Dewi Lestari"),
            _change("registered", b, "1/2027", 6, "Someone Else"),
        ])  # fmt: skip
    members = await _members(conn)
    assert members[a] == {(nik(10, female=True), "Dewi Lestari"), (nik(11), "Budi Santoso")}
    assert members[b] == {(nik(4, female=True), "Siti Aminah"), (nik(5), "Budi Santoso")}
    assert await conn.fetchval("SELECT count(*) FROM members") == 6
