"""Welfare deciles set centrally (the statistics agency's ranking), against the real broker and database:
the Ministry's bulk command, its per-item refusals and idempotency, the queries, the audit history,
the agency copy, and replays that agree with the live projection without touching any decree's hash."""

from __future__ import annotations

from typing import Any

import pytest

from dtks_contracts.household import Address
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household, public_event_ids
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

DECILE_SET = "registry.welfare_decile_set"


async def _deciles(registry, body: dict[str, Any], role: Role = Role.MINISTRY_VERIFIER, region: str = "ID"):
    return await registry.client.post("/welfare-deciles", json=body, headers=registry.auth(role, region))


def _ranking(source: str, as_of: str, *items: tuple[str, int]) -> dict[str, Any]:
    return {
        "source": source,
        "as_of": as_of,
        "households": [{"household_id": h, "decile": d} for h, d in items],
    }


async def _decile_events(registry) -> list[str]:
    async with registry.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id::text AS e FROM events WHERE event_type = $1 ORDER BY seq", DECILE_SET
        )
    return [r["e"] for r in rows]


async def _relayed(registry) -> bool:
    async with registry.pool.acquire() as conn:
        return await registry.runtime.relay.lag(conn) == 0  # type: ignore[union-attr]


async def test_the_ministry_sets_deciles_in_bulk_bad_items_are_reported_and_a_resend_records_nothing(
    registry,
):
    await registry.accept(
        [
            acceptance(f"prop-dec-{i}", accepted_at=ago(5), household=make_household(40 + i), programs=[p])
            for i, p in enumerate([Program.PKH, Program.PKH, Program.BPNT, Program.PKH])
        ]
    )
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(4))).status_code == 201
    h0, h1, h2, h3 = (household_id_for(f"prop-dec-{i}") for i in range(4))
    await registry.accept(
        [
            acceptance("prop-dec-end", accepted_at=ago(3), kind=ProposalKind.DEACTIVATION, target=h3,
                       reason=DeactivationReason.DIED, programs=[]),
        ]
    )  # fmt: skip
    assert (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(2))).status_code == 201

    # Not the Ministry: refused before anything is read or written.
    q4 = _ranking("BPS ranking 2026-Q4", "2026-11-01", (h0, 2), (h1, 7))
    for role, region in ((Role.AUDITOR, "ID"), (Role.AGENCY, "ID"), (Role.REGENCY_OPERATOR, "17.71")):
        denied = await _deciles(registry, q4, role, region)
        assert denied.status_code == 403 and denied.json()["code"] == "role_not_allowed"
    assert await _decile_events(registry) == []
    assert await registry.count("SELECT count(*) FROM welfare_deciles") == 0

    batch = _ranking(
        "BPS ranking 2026-Q4", "2026-11-01",
        (h0, 2), (h1, 7), (h3, 3), ("no-such-household", 4), (h2, 11), (h0, 5),
    )  # fmt: skip
    answer = await _deciles(registry, batch)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["changed"], body["unchanged"], body["failed"]) == (2, 0, 4)
    results = body["results"]
    assert [r["ok"] for r in results] == [True, True, False, False, False, False]
    assert [r["problem"]["code"] for r in results[2:]] == [
        "household_deactivated", "household_not_found", "decile_out_of_range", "duplicate_in_batch",
    ]  # fmt: skip
    assert [r["problem"]["status"] for r in results[2:]] == [409, 404, 422, 422]
    assert "2/HUK/2027" in results[2]["problem"]["detail"]
    recorded = await _decile_events(registry)
    assert sorted(recorded) == sorted(r["event_id"] for r in results[:2])

    # The same batch again (an answer lost on a bad network): nothing changes, nothing is recorded.
    again = (await _deciles(registry, batch)).json()
    assert (again["changed"], again["unchanged"], again["failed"]) == (0, 2, 4)
    assert [r.get("changed") for r in again["results"][:2]] == [False, False]
    assert await _decile_events(registry) == recorded

    # An older ranking loaded late does not roll a household back; a newer one replaces it.
    stale = (await _deciles(registry, _ranking("BPS ranking 2026-Q3", "2026-08-01", (h0, 9)))).json()
    assert stale["results"][0]["problem"]["code"] == "older_ranking" and stale["changed"] == 0
    newer = await _deciles(
        registry, _ranking("BPS ranking 2027-Q1", "2027-02-01", (h0, 3)), Role.MINISTRY_DETERMINER
    )
    assert newer.json()["changed"] == 1 and len(await _decile_events(registry)) == 3
    oversized = _ranking("BPS", "2027-02-01", *[(h1, 1)] * 10_001)
    assert (await _deciles(registry, oversized)).status_code == 422

    # The household view shows the decile with its source and date; the decreed record is untouched.
    auditor = registry.auth(Role.AUDITOR)
    view = (await registry.client.get(f"/households/{h0}", headers=auditor)).json()
    assert {k: view["welfare_decile"][k] for k in ("decile", "source", "as_of")} == {
        "decile": 3, "source": "BPS ranking 2027-Q1", "as_of": "2027-02-01",
    }  # fmt: skip
    assert view["household"].get("welfare_decile") is None
    assert (await registry.client.get(f"/households/{h2}", headers=auditor)).json()["welfare_decile"] is None

    # Listing by decile, within the caller's scope.
    async def listed(params: dict[str, Any], headers: dict[str, str]) -> list[str]:
        response = await registry.client.get("/households", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [h["household_id"] for h in response.json()["households"]]

    assert await listed({"decile_max": 4}, auditor) == [h0]
    assert await listed({"decile_min": 5, "decile_max": 10}, auditor) == [h1]
    assert sorted(await listed({"region": "17.71"}, auditor)) == sorted([h0, h1, h2, h3])
    assert sorted(await listed({"status": "active"}, auditor)) == sorted([h0, h1, h2])
    village = make_household(40).village_code
    assert await listed({"decile_max": 4}, registry.auth(Role.DISTRICT_VERIFIER, village[:8])) == [h0]
    other_district = "17.71.02" if village.startswith("17.71.01") else "17.71.01"
    assert await listed({"decile_max": 4}, registry.auth(Role.DISTRICT_VERIFIER, other_district)) == []
    pkh, bpnt = (registry.auth(Role.AGENCY, "17", programs=(p,)) for p in ("PKH", "BPNT"))
    assert await listed({"decile_max": 10}, pkh) == sorted([h0, h1])
    assert await listed({"decile_max": 10}, bpnt) == []
    outside = await registry.client.get(
        "/households", params={"region": "18", "decile_max": 4}, headers=registry.auth(Role.AGENCY, "17")
    )
    assert outside.status_code == 403
    inverted = await registry.client.get(
        "/households", params={"decile_min": 5, "decile_max": 4}, headers=auditor
    )
    assert inverted.status_code == 422 and inverted.json()["code"] == "invalid_decile_range"
    first_page = (await registry.client.get("/households", params={"limit": 1}, headers=auditor)).json()
    second_page = await listed({"limit": 1, "after": first_page["next_after"]}, auditor)
    assert [h["household_id"] for h in first_page["households"]] == [min(h0, h1, h2, h3)]
    assert second_page == [sorted([h0, h1, h2, h3])[1]]

    # The audit history lists both decile changes; agencies get them on the public topic.
    async def history() -> list[dict[str, Any]]:
        response = await registry.client.get(f"/audit/households/{h0}/history", headers=auditor)
        return response.json()["events"] if response.status_code == 200 else []

    async def both_listed() -> bool:
        return sum(e["event_type"] == DECILE_SET for e in await history()) == 2

    await wait_until(both_listed, what="decile changes in the household's audit history")
    changes = [e["payload"] for e in await history() if e["event_type"] == DECILE_SET]
    assert [(c["decile"], c["as_of"]) for c in changes] == [(2, "2026-11-01"), (3, "2027-02-01")]
    decile_events = set(await _decile_events(registry))
    published = await public_event_ids(
        registry.settings.kafka_bootstrap, registry.settings.topic_prefix, decile_events
    )
    assert decile_events <= published


async def test_a_replay_gives_the_live_deciles_and_a_later_decile_leaves_every_decree_hash_alone(registry):
    await registry.accept(
        [acceptance(f"prop-rep-{i}", accepted_at=ago(5), household=make_household(60 + i)) for i in range(3)]
    )
    first = (await registry.decree("5/HUK/2027", "2027-01", cutoff=ago(4))).json()
    h0, h1, h2 = (household_id_for(f"prop-rep-{i}") for i in range(3))
    auditor = registry.auth(Role.AUDITOR)

    # Set after the first decree, then again for one household; then a decree corrects that household.
    await _deciles(registry, _ranking("BPS ranking 2026-Q4", "2026-11-01", (h0, 1), (h1, 4), (h2, 9)))
    await _deciles(registry, _ranking("BPS ranking 2027-Q1", "2027-02-01", (h0, 2)))
    moved = make_household(60, household_id=h0, address=Address(street="Jl. Kapuas 4"))
    await registry.accept(
        [
            acceptance(
                "prop-rep-fix", accepted_at=ago(3), household=moved, kind=ProposalKind.CORRECTION, target=h0
            )
        ]
    )
    second = (await registry.decree("6/HUK/2027", "2027-04", cutoff=ago(2))).json()
    assert second["corrected"] == [h0]
    view = (await registry.client.get(f"/households/{h0}", headers=auditor)).json()
    assert view["welfare_decile"]["decile"] == 2  # the correction's snapshot does not reset it
    assert view["household"]["address"]["street"] == "Jl. Kapuas 4"

    await wait_until(lambda: _relayed(registry), what="registry events published")
    as_of_first = (
        await registry.client.post("/audit/replays", json={"as_of_decree": "5/HUK/2027"}, headers=auditor)
    ).json()
    assert as_of_first["register_hash"] == first["register_hash"] and as_of_first["counts"] == first["counts"]

    # The rebuild's welfare_deciles equal the live ones row for row (versions, event ids, dates).
    kept = (await registry.client.post("/audit/replays", json={"keep": True}, headers=auditor)).json()
    assert kept["register_hash"] == second["register_hash"] and kept["welfare_deciles"] == 3
    columns = "household_id, decile, source, as_of, version, event_id, set_at"
    async with registry.pool.acquire() as conn:
        live = [tuple(r) for r in await conn.fetch(f"SELECT {columns} FROM welfare_deciles ORDER BY 1")]
        replayed = [
            tuple(r)
            for r in await conn.fetch(f'SELECT {columns} FROM "{kept["schema"]}".welfare_deciles ORDER BY 1')
        ]
        # Replayed unlogged, kept durable (dtks_runtime.replay.make_durable).
        persistence = await conn.fetch(
            """SELECT DISTINCT c.relpersistence::text AS relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relkind = 'r'""",
            kept["schema"],
        )
        # Its indexes, some built only once the events were applied (deferred), are the live tables'.
        indexes = {
            schema: {r["indexname"] for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema
            )}
            for schema in (kept["schema"], await conn.fetchval("SELECT current_schema()"))
        }  # fmt: skip
        await conn.execute(f'DROP SCHEMA "{kept["schema"]}" CASCADE')
    assert replayed == live and {r[0]: r[1] for r in live} == {h0: 2, h1: 4, h2: 9}
    assert [r["relpersistence"] for r in persistence] == ["p"]
    replayed_indexes, live_indexes = indexes.values()
    # (the citizens' check's rate limit keeps its own table, made at start-up, not by a migration)
    assert (
        replayed_indexes == live_indexes - {"public_check_buckets_pkey"} and "members_nik" in replayed_indexes
    )

    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], verified
    assert verified["live_register"]["matches_latest_decree"]  # deciles are outside the decreed hash
    assert verified["welfare_deciles"] == {"households": 3, "matches": True, "differing_households": []}

    # A decile altered in the live table (not by an event) is named by the verification.
    async with registry.pool.acquire() as conn:
        await conn.execute("UPDATE welfare_deciles SET decile = 10 WHERE household_id = $1", h1)
    tampered = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert not tampered["ok"] and tampered["welfare_deciles"]["differing_households"] == [h1]
    assert all(d["matches"] for d in tampered["decrees"])
