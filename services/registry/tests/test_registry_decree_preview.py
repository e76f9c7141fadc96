"""The determiner's preview: which of the Ministry's acceptances a decree with a given cut-off would
take up, before it is issued, against the real broker and database."""

from __future__ import annotations

import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra


async def test_the_preview_lists_the_acceptances_up_to_the_cut_off_that_no_decree_has_applied(registry):
    early, late = "prop-preview-1", "prop-preview-late"
    await registry.accept(
        [
            acceptance(early, accepted_at=ago(2), household=make_household(1)),
            acceptance(late, accepted_at=ago(0.01), household=make_household(2)),
        ],
    )
    determiner = registry.auth(Role.MINISTRY_DETERMINER)
    cutoff = ago(1).isoformat()
    preview = await registry.client.get("/candidates", params={"cutoff": cutoff}, headers=determiner)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["pending"], body["by_kind"]) == (1, {"new_household": 1})
    [item] = body["items"]
    assert (item["proposal_id"], item["household_id"]) == (early, household_id_for(early))
    assert item["village_code"].startswith("17.")

    # What the decree then registers is what the preview showed; afterwards nothing waits up to then.
    issued = (await registry.decree("21/HUK/2027", "2027-01", cutoff=ago(1))).json()
    assert issued["registered"] == [item["household_id"]]
    after = (await registry.client.get("/candidates", params={"cutoff": cutoff}, headers=determiner)).json()
    assert (after["pending"], after["items"]) == (0, [])
    everything = await registry.client.get(
        "/candidates", params={"cutoff": ago(0).isoformat()}, headers=determiner
    )
    assert [i["proposal_id"] for i in everything.json()["items"]] == [late]


async def test_the_preview_is_for_the_ministry_and_auditors_and_needs_a_cut_off_with_its_offset(registry):
    district = registry.auth(Role.DISTRICT_VERIFIER, "17.71.01")
    refused = await registry.client.get(
        "/candidates", params={"cutoff": ago(0).isoformat()}, headers=district
    )
    assert refused.status_code == 403
    naive = await registry.client.get(
        "/candidates", params={"cutoff": "2026-12-31T23:59:59"}, headers=registry.auth(Role.AUDITOR)
    )
    assert naive.status_code == 422 and naive.json()["code"] == "invalid_cutoff"
