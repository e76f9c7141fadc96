"""A region's export as of a decree: the households whose latest change as of that decree lies in the
region, read through the change rows of that region only (so a province's export grows with the
province, not the register), and exactly those: a household that moved to another province leaves
the first one's export from the decree that moved it, and enters the other's."""

from __future__ import annotations

import csv
import io

import pytest

from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra

BENGKULU, LAMPUNG = "17.71.01.1001", "18.71.01.1003"  # villages of provinces 17 and 18


async def _exported(registry, decree: str, region: str) -> set[str]:
    answer = await registry.client.get(
        f"/determinations/{decree}/export", params={"region": region}, headers=registry.auth(Role.AUDITOR)
    )
    assert answer.status_code == 200, answer.text
    return {row["household_id"] for row in csv.DictReader(io.StringIO(answer.text))}


async def test_a_province_s_export_follows_its_households_as_of_each_decree(registry):
    await registry.accept(
        [
            acceptance(f"prop-region-{i}", accepted_at=ago(6), household=make_household(600 + i, village=v))
            for i, v in enumerate([BENGKULU, BENGKULU, BENGKULU, LAMPUNG])
        ]
    )
    stays, moves, leaves, elsewhere = (household_id_for(f"prop-region-{i}") for i in range(4))
    assert (await registry.decree("61/HUK/2027", "2027-01", cutoff=ago(5))).status_code == 201

    moved = make_household(601, village=LAMPUNG, household_id=moves)
    await registry.accept(
        [
            acceptance("prop-region-move", accepted_at=ago(4), household=moved, kind=ProposalKind.CORRECTION,
                       target=moves),
            acceptance("prop-region-leave", accepted_at=ago(4), kind=ProposalKind.DEACTIVATION, target=leaves,
                       reason=DeactivationReason.NO_LONGER_ELIGIBLE),
        ]
    )  # fmt: skip
    assert (await registry.decree("62/HUK/2027", "2027-04", cutoff=ago(3))).status_code == 201

    assert await _exported(registry, "61/HUK/2027", "17") == {stays, moves, leaves}
    assert await _exported(registry, "61/HUK/2027", "18") == {elsewhere}
    assert await _exported(registry, "62/HUK/2027", "17") == {stays}
    assert await _exported(registry, "62/HUK/2027", "18") == {moves, elsewhere}
    assert await _exported(registry, "62/HUK/2027", "17.71.01") == {stays}
    assert await _exported(registry, "62/HUK/2027", "ID") == {stays, moves, elsewhere}
