"""The audit's live summaries from digests checked once (register.check_digests) against the same
summaries recomputed from every snapshot: equal on a clean register and on every kind of altered row."""

from __future__ import annotations

import pytest

from dtks_contracts.household import Address
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_registry.adapters import register
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra

DECREES = ("61/HUK/2027", "62/HUK/2027")
_EDIT = """jsonb_set(snapshot, '{address,street}', '"Jl. Palsu 1"')"""


async def test_summaries_from_checked_digests_equal_those_recomputed_from_every_snapshot(registry):
    await registry.accept(
        [acceptance(f"prop-chk-{i}", accepted_at=ago(5), household=make_household(60 + i)) for i in range(3)]
    )
    assert (await registry.decree(DECREES[0], "2027-01", cutoff=ago(4))).status_code == 201
    h0, h1, h2 = (household_id_for(f"prop-chk-{i}") for i in range(3))
    moved = make_household(70, household_id=h0, address=Address(street="Jl. Sudirman 9"))
    await registry.accept([
            acceptance("prop-chk-fix", accepted_at=ago(3), household=moved, kind=ProposalKind.CORRECTION, target=h0,
                       programs=[Program.BPNT]),
            acceptance("prop-chk-end", accepted_at=ago(3), kind=ProposalKind.DEACTIVATION, target=h1,
                       reason=DeactivationReason.MOVED_AWAY, programs=[]),
            acceptance("prop-chk-new", accepted_at=ago(3), household=make_household(73)),
        ],
    )  # fmt: skip
    assert (await registry.decree(DECREES[1], "2027-04", cutoff=ago(2))).status_code == 201
    h3 = household_id_for("prop-chk-new")

    async with registry.pool.acquire() as conn:

        async def checked_as_recomputed() -> register.CheckedDigests:
            checked = await register.check_digests(conn)
            for decree in DECREES:
                assert await register.as_of_summary(conn, decree, checked=checked) == (
                    await register.as_of_summary(conn, decree, recompute=True)
                ), decree
            assert await register.current_summary(conn, checked=checked) == (
                await register.current_summary(conn, recompute=True)
            )
            return checked

        clean = await checked_as_recomputed()
        assert (clean.changes, clean.households) == ({}, {})
        unaltered = await register.current_summary(conn, recompute=True)

        # The row in force of a corrected household, alone: only today's register differs.
        await conn.execute(f"UPDATE households SET snapshot = {_EDIT} WHERE household_id = $1", h0)
        found = await checked_as_recomputed()
        assert (found.changes, list(found.households)) == ({}, [h0])
        assert (await register.current_summary(conn, checked=found)).register_hash != unaltered.register_hash

        # A change row of the first decree, left in force by the second: both decrees' registers
        # differ, and the row in force, no longer its copy, is parsed and found as it was stored.
        await conn.execute(
            f"UPDATE household_changes SET snapshot = {_EDIT} WHERE household_id = $1 AND decree_number = $2",
            h2, DECREES[0],
        )  # fmt: skip
        found = await checked_as_recomputed()
        assert (list(found.changes), list(found.households)) == ([(h2, DECREES[0])], [h0])

        # A change row and its copy in force altered alike: the copy takes the row's digest unparsed.
        await conn.execute(f"UPDATE households SET snapshot = {_EDIT} WHERE household_id = $1", h3)
        await conn.execute(
            f"UPDATE household_changes SET snapshot = {_EDIT} WHERE household_id = $1 AND decree_number = $2",
            h3, DECREES[1],
        )  # fmt: skip
        found = await checked_as_recomputed()
        assert sorted(found.changes) == sorted([(h2, DECREES[0]), (h3, DECREES[1])])
        assert sorted(found.households) == sorted([h0, h3])
        assert found.households[h3] == found.changes[(h3, DECREES[1])]
