"""Several households by id in one call (``POST /households/lookup``): what the DCI adapter reads a
decree's page of changed households with, instead of one call a household. Each as its own read
gives it, in the order asked, and only within the reader's scope."""

from __future__ import annotations

import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra


async def test_a_lookup_answers_the_households_asked_as_their_own_reads_in_order_and_in_scope(registry):
    villages = {"prop-lookup-1": "17.71.01.1001", "prop-lookup-2": "17.71.02.1001"}
    await registry.accept(
        [
            acceptance(
                pid, accepted_at=ago(2), household=make_household(40 + n, village=v), programs=[Program.PKH]
            )
            for n, (pid, v) in enumerate(villages.items())
        ]
    )
    assert (await registry.decree("40/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201
    first, second = (household_id_for(pid) for pid in villages)
    auditor = registry.auth(Role.AUDITOR)
    one_by_one = [
        (await registry.client.get(f"/households/{h}", headers=auditor)).json() for h in (first, second)
    ]

    asked = [second, "not-a-household", first, second]
    answer = await registry.client.post("/households/lookup", json={"household_ids": asked}, headers=auditor)
    assert answer.status_code == 200, answer.text
    # In the order asked, each once, the unknown id left out: each exactly as its own read answers.
    assert answer.json() == {"households": [one_by_one[1], one_by_one[0]]}

    # A district's verifier sees its own district's household only; the other reads as not there.
    district = registry.auth(Role.DISTRICT_VERIFIER, "17.71.01")
    scoped = await registry.client.post("/households/lookup", json={"household_ids": asked}, headers=district)
    assert scoped.json() == {"households": [one_by_one[0]]}

    # Asked for one region, the others' households are left out (as a reader narrower than its scope).
    in_02 = {"household_ids": asked, "region": "17.71.02"}
    assert (await registry.client.post("/households/lookup", json=in_02, headers=auditor)).json() == {
        "households": [one_by_one[1]]
    }
    # A region outside the reader's scope is refused, as the register's other reads refuse it.
    refused_region = await registry.client.post("/households/lookup", json=in_02, headers=district)
    assert refused_region.status_code == 403, refused_region.text
    bad_region = {"household_ids": asked, "region": "not a region"}
    assert (
        await registry.client.post("/households/lookup", json=bad_region, headers=auditor)
    ).status_code == 422

    for refused in ([], ["x"] * 1001, ["bad id with spaces"]):
        answer = await registry.client.post(
            "/households/lookup", json={"household_ids": refused}, headers=auditor
        )
        assert answer.status_code == 422, refused[:2]
