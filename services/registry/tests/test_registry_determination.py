"""Determinations against the real broker and database: acceptances produced to the real verification
topic drive the projection; decrees, queries, exports and the public topic are observed end to end."""

from __future__ import annotations

import csv
import io
import json

import pytest

from dtks_contracts.household import Address, Household
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household, public_event_ids
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


async def test_a_household_flows_to_active_through_a_decree(registry):
    pid, late = "prop-flow-1", "prop-flow-late"
    await registry.accept(
        [
            acceptance(pid, accepted_at=ago(2), household=make_household(1), programs=[Program.PKH]),
            acceptance(late, accepted_at=ago(0.01), household=make_household(2)),
        ],
    )
    hid = household_id_for(pid)
    response = await registry.decree("12/HUK/2027", "2027-01", cutoff=ago(1))
    assert response.status_code == 201, response.text
    issued = response.json()
    assert (issued["registered"], issued["corrected"], issued["deactivated"]) == ([hid], [], [])
    assert issued["counts"] == {"households": 1, "people": 2} and issued["period"] == "2027-01"

    household = (await registry.client.get(f"/households/{hid}", headers=registry.auth(Role.AUDITOR))).json()
    assert household["status"] == "active" and household["registered_in"] == "12/HUK/2027"
    assert household["programs"] == ["PKH"]
    # Anyone holding the register recomputes the decree's hash (its Merkle root) with the contracts' definition.
    assert issued["register_hash"] == register_root_of([Household.model_validate(household["household"])])

    # Same number again: the first result. Another decree for the period, or one with nothing: refused.
    again = await registry.decree("12/HUK/2027", "2027-04")
    assert again.status_code == 200 and again.json() == issued
    same_period = await registry.decree("13/HUK/2027", "2027-01")
    assert same_period.status_code == 409 and same_period.json()["code"] == "period_already_determined"
    assert (await registry.decree("14/HUK/2027", "2027-04", cutoff=ago(1))).json()[
        "code"
    ] == "nothing_to_determine"
    assert (await registry.decree("15/HUK/2027", "2027-02")).json()["code"] == "invalid_period"
    forbidden = await registry.client.post(
        "/determinations", json={"decree_number": "x", "period": "2027-04", "cutoff": ago(0).isoformat()},
        headers=registry.auth(Role.MINISTRY_VERIFIER),
    )  # fmt: skip
    assert forbidden.status_code == 403

    # Scoped reads: inside the region yes, outside it the household does not exist for the reader.
    village = household["village_code"]
    district_staff = registry.auth(Role.DISTRICT_VERIFIER, village[:8])
    assert (await registry.client.get(f"/households/{hid}", headers=district_staff)).status_code == 200
    elsewhere = registry.auth(Role.DISTRICT_VERIFIER, "17.71.03")
    assert (await registry.client.get(f"/households/{hid}", headers=elsewhere)).status_code == 404
    head_nik = household["household"]["members"][0]["nik"]
    person = (await registry.client.get(f"/people/{head_nik}", headers=district_staff)).json()
    assert person["memberships"][0]["household_id"] == hid
    assert (await registry.client.get(f"/people/{head_nik}", headers=elsewhere)).status_code == 404
    by_kk = await registry.client.get(
        "/households", params={"kk": household["kk_number"]}, headers=district_staff
    )
    assert [h["household_id"] for h in by_kk.json()["households"]] == [hid]
    stats = (
        await registry.client.get("/stats", params={"region": "17.71"}, headers=registry.auth(Role.AUDITOR))
    ).json()
    assert (stats["households"], stats["people"]) == (1, 2)
    assert stats["by_program"] == [{"program": "PKH", "households": 1, "people": 2}]
    assert stats["by_region"] == [{"code": village[:8], "households": 1, "people": 2}]

    # Agencies: the decree's register as CSV (one row per person) and JSON Lines, filtered by program.
    agency = registry.auth(Role.AGENCY, "17.71", programs=("PKH",))
    export = await registry.client.get("/determinations/12/HUK/2027/export", headers=agency)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert export.status_code == 200 and [r["household_id"] for r in rows] == [hid, hid]
    jsonl = await registry.client.get(
        "/determinations/12/HUK/2027/export", params={"format": "jsonl"}, headers=agency
    )
    assert [json.loads(line)["household_id"] for line in jsonl.text.splitlines()] == [hid]
    not_granted = await registry.client.get(
        "/determinations/12/HUK/2027/export", params={"program": "PIP"}, headers=agency
    )
    assert not_granted.status_code == 403

    # The agency-facing copies on dtks.registry.public carry the recorded event ids.
    async with registry.pool.acquire() as conn:
        recorded = {
            str(r["event_id"]): r["event_type"]
            for r in await conn.fetch("SELECT event_id, event_type FROM events")
        }
    # The first decree also records the Ministry's signing key (registry.decree_key_activated).
    assert sorted(recorded.values()) == [
        "registry.decree_key_activated",
        "registry.determination_issued",
        "registry.household_registered",
    ]
    published = await public_event_ids(
        registry.settings.kafka_bootstrap, registry.settings.topic_prefix, set(recorded)
    )
    assert published == set(recorded)


async def test_a_correction_and_a_deactivation_enter_the_next_decree_and_replays_reproduce_every_hash(
    registry,
):
    await registry.accept(
        [acceptance(f"prop-q1-{i}", accepted_at=ago(5), household=make_household(10 + i)) for i in range(3)],
    )
    first = (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(4))).json()
    h0, h1, h2 = (household_id_for(f"prop-q1-{i}") for i in range(3))
    assert sorted(first["registered"]) == sorted([h0, h1, h2])

    moved = make_household(10, household_id=h0, address=Address(street="Jl. Sudirman 9"))
    await registry.accept([
            acceptance("prop-fix-0", accepted_at=ago(3), household=moved, kind=ProposalKind.CORRECTION, target=h0,
                       programs=[Program.BPNT]),
            acceptance("prop-end-1", accepted_at=ago(3), kind=ProposalKind.DEACTIVATION, target=h1,
                       reason=DeactivationReason.MOVED_AWAY, programs=[]),
            acceptance("prop-new-3", accepted_at=ago(3), household=make_household(13)),
        ],
    )  # fmt: skip
    second = await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(2))
    assert second.status_code == 201, second.text
    second = second.json()
    h3 = household_id_for("prop-new-3")
    assert (second["registered"], second["corrected"], second["deactivated"]) == ([h3], [h0], [h1])
    assert second["counts"] == {"households": 3, "people": 6}
    auditor = registry.auth(Role.AUDITOR)
    corrected = (await registry.client.get(f"/households/{h0}", headers=auditor)).json()
    assert corrected["household"]["address"]["street"] == "Jl. Sudirman 9"
    # The correction's programs are the household's from then on (it left PKH, see the test below).
    assert corrected["programs"] == ["BPNT"] and corrected["registered_in"] == "1/HUK/2027"
    gone = (await registry.client.get(f"/households/{h1}", headers=auditor)).json()
    assert (gone["status"], gone["deactivation_reason"], gone["deactivated_in"]) == (
        "deactivated",
        "moved_away",
        "2/HUK/2027",
    )
    # The register as of the first decree is still what the first decree fixed.
    as_of_first = await registry.client.get(
        "/determinations/1/HUK/2027/export", params={"format": "jsonl"}, headers=auditor
    )
    assert sorted(json.loads(line)["household_id"] for line in as_of_first.text.splitlines()) == sorted(
        [h0, h1, h2]
    )

    # A rebuild from offset zero reproduces each decree's hash; the relay must have published first.
    await wait_until(lambda: _relayed(registry), what="registry events published")
    rebuilt = (
        await registry.client.post("/audit/replays", json={"as_of_decree": "1/HUK/2027"}, headers=auditor)
    ).json()
    assert rebuilt["register_hash"] == first["register_hash"] and rebuilt["counts"] == first["counts"]
    rebuilt = (await registry.client.post("/audit/replays", json={}, headers=auditor)).json()
    assert rebuilt["register_hash"] == second["register_hash"] and rebuilt["candidates"] == 6
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"] and [d["matches"] for d in verified["decrees"]] == [True, True]
    denied = await registry.client.post(
        "/audit/replays", json={}, headers=registry.auth(Role.MINISTRY_DETERMINER)
    )
    assert denied.status_code == 403

    # Someone edits a member's name in the live table: the verification names the household.
    async with registry.pool.acquire() as conn:
        await conn.execute(
            """UPDATE households SET snapshot = jsonb_set(snapshot, '{members,0,name}', '"Orang Lain"')
               WHERE household_id = $1""",
            h2,
        )
    tampered = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert not tampered["ok"] and tampered["live_register"]["altered_households"] == [h2]
    assert [d["replayed_hash"] == d["recorded_hash"] for d in tampered["decrees"]] == [True, True]


async def test_a_correction_removing_a_program_shows_the_loss_in_the_decree_event_and_its_export(registry):
    await registry.accept([acceptance("prop-pkh-0", accepted_at=ago(5), household=make_household(20))])
    first = (await registry.decree("41/HUK/2027", "2027-01", cutoff=ago(4))).json()
    hid = household_id_for("prop-pkh-0")
    left_pkh = make_household(20, household_id=hid, programs=(Program.BPNT,))
    await registry.accept(
        [acceptance("prop-pkh-fix", accepted_at=ago(3), household=left_pkh, kind=ProposalKind.CORRECTION,
                    target=hid, programs=[])]
    )  # fmt: skip
    second = await registry.decree("42/HUK/2027", "2027-04", cutoff=ago(2))
    assert second.status_code == 201, second.text
    auditor = registry.auth(Role.AUDITOR)
    household = (await registry.client.get(f"/households/{hid}", headers=auditor)).json()
    assert household["programs"] == ["BPNT"]

    async with registry.pool.acquire() as conn:
        payload = json.loads(
            await conn.fetchval(
                "SELECT envelope->>'payload' FROM events WHERE event_type = 'registry.household_corrected'"
            )
        )
    assert (payload["programs_added"], payload["programs_removed"]) == (["BPNT"], ["PKH"])

    # PKH's agency still receives the household in the decree that took it out, with the loss named.
    pkh_agency = registry.auth(Role.AGENCY, "17.71", programs=("PKH",))
    export = await registry.client.get("/determinations/42/HUK/2027/export", headers=pkh_agency)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert export.status_code == 200 and {r["household_id"] for r in rows} == {hid}
    assert {(r["programs"], r["programs_added"], r["programs_removed"]) for r in rows} == {
        ("BPNT", "BPNT", "PKH")
    }
    jsonl = await registry.client.get(
        "/determinations/42/HUK/2027/export", params={"format": "jsonl"}, headers=auditor
    )
    [line] = [json.loads(x) for x in jsonl.text.splitlines()]
    assert (line["programs_added"], line["programs_removed"]) == (["BPNT"], ["PKH"])
    # As of the first decree the household gained PKH (its registration) and lost nothing.
    as_of_first = await registry.client.get(
        "/determinations/41/HUK/2027/export", params={"format": "jsonl"}, headers=auditor
    )
    [line] = [json.loads(x) for x in as_of_first.text.splitlines()]
    assert (line["programs"], line["programs_added"], line["programs_removed"]) == (["PKH"], ["PKH"], [])

    # Both decrees replay to the hashes they recorded.
    await wait_until(lambda: _relayed(registry), what="registry events published")
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"] and [d["matches"] for d in verified["decrees"]] == [True, True]
    assert first["register_hash"] != second.json()["register_hash"]


async def _relayed(registry) -> bool:
    async with registry.pool.acquire() as conn:
        return await registry.runtime.relay.lag(conn) == 0  # type: ignore[union-attr]
