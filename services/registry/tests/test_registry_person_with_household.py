"""A person by NIK with their household documents in the same answer (``include=household``): what
the DCI adapter's search by NIK reads in one call instead of one per membership."""

from __future__ import annotations

import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra


async def test_a_person_read_with_include_household_carries_each_household_as_its_own_read_gives_it(registry):
    pid = "prop-person-include-1"
    await registry.accept(
        [acceptance(pid, accepted_at=ago(2), household=make_household(31), programs=[Program.PKH])]
    )
    assert (await registry.decree("31/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201
    hid = household_id_for(pid)
    auditor = registry.auth(Role.AUDITOR)
    household = (await registry.client.get(f"/households/{hid}", headers=auditor)).json()
    head_nik = household["household"]["members"][0]["nik"]

    plain = (await registry.client.get(f"/people/{head_nik}", headers=auditor)).json()
    assert "household" not in plain["memberships"][0]  # the default answer keeps its shape
    full = await registry.client.get(f"/people/{head_nik}", params={"include": "household"}, headers=auditor)
    assert full.status_code == 200, full.text
    (membership,) = full.json()["memberships"]
    assert membership["household"] == household
    assert {k: v for k, v in membership.items() if k != "household"} == plain["memberships"][0]

    # Scope is the same as without it: outside the reader's region the person does not exist.
    elsewhere = registry.auth(Role.DISTRICT_VERIFIER, "17.71.03")
    outside = await registry.client.get(
        f"/people/{head_nik}", params={"include": "household"}, headers=elsewhere
    )
    assert outside.status_code == 404
    assert (
        await registry.client.get(f"/people/{head_nik}", params={"include": "members"}, headers=auditor)
    ).status_code == 422
