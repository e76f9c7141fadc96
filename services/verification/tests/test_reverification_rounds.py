"""Re-verification rounds in the verification service: a round opened over a district with a seeded
sample issues its prelist per village; officers record each outcome, and the visits that call for a
correction or deactivation name the proposal (pre-filled) on the round's events; progress and the
closing recap count them. Real Kafka and PostgreSQL; the register arrives as the registry's events."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from collections import Counter
from typing import Any

import asyncpg
import pytest
from PIL import Image

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.civil_registry import PersonDied
from dtks_contracts.events.complaint import ComplaintFiled
from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.events.registry import HouseholdRegistered, WelfareDecileSet
from dtks_contracts.events.reverification import RoundSelection, SelectionMode
from dtks_contracts.household import Household
from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import Role
from dtks_contracts.vocabulary.complaints import ComplaintChannel, ComplaintKind
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind, ProposalOrigin
from dtks_runtime.testing import wait_until
from dtks_synthetic import generate_population, register_households
from dtks_verification.adapters import prelists
from dtks_verification.domain.reverification import corrected_household, proposal_id_for
from dtks_verification.harness import Service
from dtks_verification.testing import TopicReader

REGENCY = "17.05"
HOUSEHOLDS = list(register_households(generate_population(REGENCY, people=1500, seed=5)))
DISTRICT = Counter(h.village_code[:8] for h in HOUSEHOLDS).most_common(1)[0][0]
TODAY = dt.date.today()
PERIOD = {"period_start": str(TODAY - dt.timedelta(days=7)), "period_end": str(TODAY + dt.timedelta(days=60))}


def registered(households: list[Household]) -> list[EventEnvelope]:
    return [
        EventEnvelope.new(
            HouseholdRegistered(
                household_id=str(h.household_id),
                decree_number="1/HUK/2026",
                household=h,
                proposal_id=f"seed-{h.household_id}",
            ),
            aggregate_version=1,
            actor=None,
        )
        for h in households
    ]


async def with_register(service: Service) -> None:
    """The register's households known to the service (from the registry's events)."""
    await service.publish(registered(HOUSEHOLDS))
    deps = service.app.state.deps  # type: ignore[union-attr]

    async def known() -> bool:
        async with deps.connection() as conn:
            n = await conn.fetchval("SELECT count(*) FROM registered_households WHERE snapshot IS NOT NULL")
        return int(n) == len(HOUSEHOLDS)

    await wait_until(known, 60, "the register's households in verification")


async def open_round(service: Service, region: str, selection: dict[str, Any], **more: Any) -> dict[str, Any]:
    body = {"region": region, **PERIOD, "selection": selection, **more}
    response = await service.http.post(
        "/reverification-rounds", json=body, headers=service.auth(Role.REGENCY_OPERATOR, REGENCY)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def close(service: Service, round_id: str) -> None:
    response = await service.http.post(
        f"/reverification-rounds/{round_id}/closing", headers=service.auth(Role.REGENCY_OPERATOR, REGENCY)
    )
    assert response.status_code == 200, response.text


async def prelist_of(service: Service, round_id: str, village: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        response = await service.http.get(
            f"/reverification-rounds/{round_id}/prelist",
            params={"village_code": village, "limit": 2, **params, **({"after": after} if after else {})},
            headers=service.auth(Role.DISTRICT_VERIFIER, village[:8]),
        )
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["entries"]
        after = page["next_after"]
        if after is None:
            return entries


def visit(household_id: str, outcome: str, **more: Any) -> dict[str, Any]:
    return {
        "household_id": household_id,
        "outcome": outcome,
        "officer": "Rina Marlina",
        "visit_date": str(TODAY),
        "latitude": -3.46,
        "longitude": 102.52,
        **more,
    }


@pytest.mark.infra
async def test_a_round_over_a_district_with_a_seeded_sample_issues_its_prelist_per_village(
    service: Service,
) -> None:
    await with_register(service)
    in_district = [h for h in HOUSEHOLDS if h.village_code.startswith(DISTRICT + ".")]
    sample = {"mode": "sample", "sample_size": 12, "seed": 7}
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:
        first = await open_round(service, DISTRICT, sample)

        async def announced() -> bool:
            await topic.poll()
            return any(e.event_type == "verification.reverification_round_opened" for e in topic.events)

        await wait_until(announced, 30, "the round's opening on Kafka")
        [opened] = [e for e in topic.events if e.event_type == "verification.reverification_round_opened"]
    assert opened.payload["round_id"] == first["round_id"] and opened.payload["households"] == 12
    assert opened.payload["opened_by"]["role"] == "regency_operator"
    assert first["households"] == 12 and first["status"] == "open"
    villages = sorted({h.village_code for h in in_district})
    listed = {v: await prelist_of(service, first["round_id"], v) for v in villages}
    await close(service, first["round_id"])  # two open rounds never cover the same households
    drawn = [e for entries in listed.values() for e in entries]
    assert len(drawn) == 12 and len({e["household_id"] for e in drawn}) == 12
    assert first["villages"] == sum(1 for entries in listed.values() if entries) > 1
    by_id = {str(h.household_id): h for h in in_district}
    for village, entries in listed.items():
        for entry in entries:
            household = by_id[entry["household_id"]]  # only the district's households are drawn
            assert entry["village_code"] == village == household.village_code
            assert entry["kk_number"] == household.kk_number and entry["outcome"] is None
            assert entry["head_name"] == household.heads()[0].name
    # The same seed draws the same households; another seed others.
    again = await open_round(service, DISTRICT, sample)
    redrawn = [e for v in villages for e in await prelist_of(service, again["round_id"], v)]
    await close(service, again["round_id"])
    assert {e["household_id"] for e in redrawn} == {e["household_id"] for e in drawn}
    other = await open_round(service, DISTRICT, {**sample, "seed": 8})
    other_draw = [e for v in villages for e in await prelist_of(service, other["round_id"], v)]
    await close(service, other["round_id"])
    assert {e["household_id"] for e in other_draw} != {e["household_id"] for e in drawn}
    # A size limit below the sample caps it; a region outside the opener's scope is refused.
    capped = await open_round(service, DISTRICT, sample, size_limit=5)
    assert capped["households"] == 5
    refused = await service.http.post(
        "/reverification-rounds",
        json={"region": "17.71", **PERIOD, "selection": {"mode": "all"}},
        headers=service.auth(Role.REGENCY_OPERATOR, REGENCY),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "outside_region", refused.text
    village_operator = service.auth(Role.VILLAGE_OPERATOR, villages[0])
    assert (
        await service.http.get(f"/reverification-rounds/{first['round_id']}", headers=village_operator)
    ).status_code == 403
    elsewhere = service.auth(Role.DISTRICT_VERIFIER, "17.71.01")
    hidden = await service.http.get(f"/reverification-rounds/{first['round_id']}", headers=elsewhere)
    assert hidden.status_code == 404 and hidden.json()["code"] == "round_not_found"


@pytest.mark.infra
async def test_each_outcome_is_recorded_once_and_the_ones_that_change_the_register_name_their_proposal(
    service: Service,
) -> None:
    await with_register(service)
    opened = await open_round(service, DISTRICT, {"mode": "all"})
    round_id = opened["round_id"]
    villages = sorted({h.village_code for h in HOUSEHOLDS if h.village_code.startswith(DISTRICT + ".")})
    entries = [e for v in villages for e in await prelist_of(service, round_id, v)]
    assert len(entries) == opened["households"] == sum(h.village_code[:8] == DISTRICT for h in HOUSEHOLDS)
    ids = [e["household_id"] for e in entries]
    village = entries[0]["village_code"]
    officer = service.auth(Role.DISTRICT_VERIFIER, DISTRICT)
    url = f"/reverification-rounds/{round_id}/visits"
    changes = {"address": {"street": "Jl. Baru No. 3"}, "income_band": "below_1m"}
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:
        bad = await service.http.post(
            url, json=visit(ids[0], "changed", changes={"members": []}), headers=officer
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_changes", bad.text
        assert any(e["field"].startswith("changes.members") for e in bad.json()["errors"])
        without = await service.http.post(url, json=visit(ids[0], "changed"), headers=officer)
        assert without.status_code == 422 and without.json()["code"] == "changes_required"
        batch = [
            visit(ids[0], "changed", changes=changes),
            visit(ids[1], "moved", note="Pindah ke Curup sejak Agustus"),
            visit(ids[2], "unchanged"),
        ]
        response = await service.http.post(url, json=batch, headers=officer)
        assert response.status_code == 200 and response.json()["succeeded"] == 3, response.text
        results = response.json()["results"]
        assert results[0]["proposal_id"] == proposal_id_for(round_id, ids[0])
        assert results[1]["proposal_id"] == proposal_id_for(round_id, ids[1])
        assert results[2]["proposal_id"] is None
        # The same visit sent again (its answer lost) answers as it did; another visit is refused.
        replay = await service.http.post(url, json=batch[1], headers=officer)
        assert replay.status_code == 200 and replay.json()["proposal_id"] == results[1]["proposal_id"]
        again = await service.http.post(url, json=visit(ids[1], "not_found"), headers=officer)
        assert again.status_code == 409 and again.json()["code"] == "already_visited", again.text
        other_district = next(h.village_code[:8] for h in HOUSEHOLDS if h.village_code[:8] != DISTRICT)
        elsewhere = await service.http.post(
            url, json=visit(ids[3], "unchanged"), headers=service.auth(Role.DISTRICT_VERIFIER, other_district)
        )
        assert elsewhere.status_code == 403, elsewhere.text

        async def published() -> bool:
            await topic.poll()
            return (
                sum(e.event_type == "verification.reverification_visit_recorded" for e in topic.events) == 3
            )

        await wait_until(published, 30, "the three visits on Kafka")
        recorded = {
            e.payload["household_id"]: e.payload
            for e in topic.events
            if e.event_type == "verification.reverification_visit_recorded"
        }
    changed = recorded[ids[0]]
    original = next(h for h in HOUSEHOLDS if h.household_id == ids[0])
    assert changed["household"]["address"]["street"] == "Jl. Baru No. 3"
    assert changed["household"]["address"]["rt"] == original.address.rt  # pre-filled from the register
    assert changed["household"]["income_band"] == "below_1m"
    assert [m["nik"] for m in changed["household"]["members"]] == [m.nik for m in original.members]
    assert changed["household"]["field_visit"]["officer"] == "Rina Marlina"
    assert changed["household"].get("welfare_decile") is None
    moved = recorded[ids[1]]
    assert moved["deactivation_reason"] == "moved_away" and "Pindah ke Curup" in moved["evidence_note"]
    assert recorded[ids[2]]["proposal_id"] is None and recorded[ids[2]]["household"] is None

    progress = await service.http.get(
        f"/reverification-rounds/{round_id}/progress", params={"by": "village"}, headers=officer
    )
    assert progress.status_code == 200, progress.text
    total = progress.json()["total"]
    assert (total["households"], total["visited"], total["outstanding"]) == (len(ids), 3, len(ids) - 3)
    assert (total["changed"], total["moved"], total["unchanged"], total["proposals"]) == (1, 1, 1, 2)
    assert {r["village"] for r in progress.json()["villages"]} == {e["village_code"] for e in entries}
    [row] = [r for r in progress.json()["villages"] if r["village"] == village]
    assert row["changed"] == 1 and row["visited"] >= 1
    outstanding = [e for v in villages for e in await prelist_of(service, round_id, v, outstanding="true")]
    assert {e["household_id"] for e in outstanding} == set(ids[3:])
    by_district = await service.http.get(
        f"/reverification-rounds/{round_id}/progress", params={"by": "district"}, headers=officer
    )
    [district_row] = by_district.json()["districts"]
    assert district_row["district"] == DISTRICT and district_row["visited"] == 3

    closing = await service.http.post(
        f"/reverification-rounds/{round_id}/closing", headers=service.auth(Role.REGENCY_OPERATOR, REGENCY)
    )
    assert closing.status_code == 200, closing.text
    recap = closing.json()["recap"]
    assert (recap["visited"], recap["proposals"], recap["outstanding"]) == (3, 2, opened["households"] - 3)
    late = await service.http.post(url, json=visit(ids[-1], "unchanged"), headers=officer)
    assert late.status_code == 409 and late.json()["code"] == "round_closed", late.text

    # Visited households are not selected as "not visited for 6 months"; a decile that changed flags one.
    fresh = await open_round(service, DISTRICT, {"mode": "not_visited", "not_visited_months": 6})
    assert fresh["households"] == len(ids) - 3
    await close(service, fresh["round_id"])
    deciles = [
        EventEnvelope.new(
            WelfareDecileSet(household_id=ids[4], decile=d, source="BPS DTSEN", as_of=TODAY),
            aggregate_version=2 + i,
            actor=None,
        )
        for i, d in enumerate((2, 5))
    ]
    await service.publish(deciles)

    async def flagged() -> bool:
        found = await open_round(service, DISTRICT, {"mode": "flagged", "flags": ["decile_changed"]})
        await close(service, found["round_id"])
        return bool(found["households"] == 1)

    await wait_until(flagged, 30, "the household whose decile changed flagged")

    # A member's death from the civil registry and a complaint naming a household flag them too.
    dead_in = next(h for h in HOUSEHOLDS if h.household_id == ids[5])
    await service.publish(
        [
            EventEnvelope.new(
                PersonDied(life_event_id="death-1", nik=dead_in.members[0].nik, died_on=TODAY),
                aggregate_version=1,
                actor=None,
            ),
            EventEnvelope.new(
                ComplaintFiled(
                    complaint_id="complaint-1",
                    village_code=village,
                    kind=ComplaintKind.DATA_ERROR,
                    channel=ComplaintChannel.PUBLIC_FORM,
                    complainant_nik=dead_in.members[0].nik,
                    subject_household_id=ids[6],
                    due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=14),
                ),
                aggregate_version=1,
                actor=None,
            ),
        ]
    )

    async def both_flagged() -> bool:
        died = await open_round(service, DISTRICT, {"mode": "flagged", "flags": ["member_died"]})
        await close(service, died["round_id"])
        complained = await open_round(service, DISTRICT, {"mode": "flagged", "flags": ["complaint"]})
        await close(service, complained["round_id"])
        return bool(died["households"] == 1 and complained["households"] == 1)

    await wait_until(both_flagged, 60, "the households flagged by a death and a complaint")


@pytest.mark.infra
async def test_a_round_over_households_an_open_round_covers_in_the_same_period_is_refused_naming_it(
    service: Service,
) -> None:
    await with_register(service)
    village = next(h.village_code for h in HOUSEHOLDS if h.village_code.startswith(DISTRICT + "."))
    other_district = next(h.village_code[:8] for h in HOUSEHOLDS if h.village_code[:8] != DISTRICT)
    opened = await open_round(service, DISTRICT, {"mode": "all"})
    opener = service.auth(Role.REGENCY_OPERATOR, REGENCY)
    later = {
        "period_start": str(TODAY + dt.timedelta(days=61)),
        "period_end": str(TODAY + dt.timedelta(days=90)),
    }
    # The same district, the regency holding it, a village inside it: all overlap the open round.
    for region, period in ((DISTRICT, PERIOD), (REGENCY, PERIOD), (village, PERIOD)):
        body = {"region": region, **period, "selection": {"mode": "all"}}
        refused = await service.http.post("/reverification-rounds", json=body, headers=opener)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == "round_overlaps" and opened["round_id"] in problem["detail"], problem
        assert problem["open_round"]["round_id"] == opened["round_id"]
        assert problem["open_round"]["region"] == DISTRICT
    # Another district, or the same district after the open round's period, does not overlap.
    beside = await open_round(service, other_district, {"mode": "all"})
    after = await service.http.post(
        "/reverification-rounds",
        json={"region": DISTRICT, **later, "selection": {"mode": "all"}},
        headers=opener,
    )
    assert after.status_code == 201, after.text
    for round_id in (beside["round_id"], after.json()["round_id"], opened["round_id"]):
        await close(service, round_id)

    # Several openings over the same households at once: exactly one wins, the others name it.
    bodies = [
        {"region": r, **PERIOD, "selection": {"mode": "all"}} for r in (DISTRICT, REGENCY, village, DISTRICT)
    ]
    answers = await asyncio.gather(
        *(service.http.post("/reverification-rounds", json=b, headers=opener) for b in bodies)
    )
    won = [a for a in answers if a.status_code == 201]
    assert len(won) == 1, [a.text for a in answers]
    winner = won[0].json()["round_id"]
    for lost in (a for a in answers if a.status_code != 201):
        assert lost.status_code == 409 and lost.json()["code"] == "round_overlaps", lost.text
        assert lost.json()["open_round"]["round_id"] == winner
    # The database itself refuses an overlapping open round, whatever the caller checked before.
    deps = service.app.state.deps  # type: ignore[union-attr]
    async with deps.connection() as conn:
        with pytest.raises(asyncpg.ExclusionViolationError):
            await prelists.open_round(
                conn, round_id="behind-the-check", region=REGENCY, period_start=TODAY, period_end=TODAY,
                selection=RoundSelection(mode=SelectionMode.ALL), size_limit=None,
                opened_by=Actor(subject="test", role=Role.MINISTRY_VERIFIER, region="ID"),
            )  # fmt: skip


@pytest.mark.infra
async def test_a_round_visits_photo_is_served_to_its_districts_officers_and_named_in_its_proposals_record(
    service: Service,
) -> None:
    await with_register(service)
    opened = await open_round(service, DISTRICT, {"mode": "sample", "sample_size": 2, "seed": 3})
    [entry, *_] = [e for v in sorted({h.village_code for h in HOUSEHOLDS if h.village_code[:8] == DISTRICT})
                   for e in await prelist_of(service, opened["round_id"], v)]  # fmt: skip
    officer = service.auth(Role.DISTRICT_VERIFIER, DISTRICT)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, "PNG")
    photo = out.getvalue()
    sha = hashlib.sha256(photo).hexdigest()
    assert (await service.http.put(f"/evidence/{sha}", content=photo, headers=officer)).status_code == 201
    photos = [{"subject": "roof", "sha256": sha, "location": "evidence"}]
    recorded = await service.http.post(
        f"/reverification-rounds/{opened['round_id']}/visits",
        json=visit(entry["household_id"], "moved", note="Pindah ke Curup", photos=photos),
        headers=officer,
    )
    assert recorded.status_code == 200, recorded.text
    proposal_id = recorded.json()["proposal_id"]
    served = await service.http.get(f"/evidence/{sha}", headers=officer)
    assert (
        served.status_code == 200
        and served.content == photo
        and served.headers["content-type"] == "image/png"
    )
    other_district = next(h.village_code[:8] for h in HOUSEHOLDS if h.village_code[:8] != DISTRICT)
    hidden = await service.http.get(
        f"/evidence/{sha}", headers=service.auth(Role.DISTRICT_VERIFIER, other_district)
    )
    assert hidden.status_code == 404, hidden.text
    # The visit's proposal, as the proposal service enters it, shows the round's visit and its photo.
    content = ProposalSubmitted(
        proposal_id=proposal_id, round=1, kind=ProposalKind.DEACTIVATION, origin=ProposalOrigin.RE_VERIFICATION,
        village_code=entry["village_code"], target_household_id=entry["household_id"],
        deactivation_reason=DeactivationReason.MOVED_AWAY, evidence_note="Pindah ke Curup",
        submitted_by=Actor(subject="officer", role=Role.DISTRICT_VERIFIER, region=DISTRICT),
        reverification_round_id=opened["round_id"],
    )  # fmt: skip
    await service.publish([EventEnvelope.new(content, aggregate_version=1, actor=content.submitted_by)])
    await service.wait_status(proposal_id, "in_tier")
    record = await service.http.get(f"/proposals/{proposal_id}/verification", headers=officer)
    round_visit = record.json()["round_visit"]
    assert round_visit["round_id"] == opened["round_id"] and round_visit["outcome"] == "moved"
    assert round_visit["photos"] == [{**photos[0], "url": f"/evidence/{sha}"}]


def test_a_changed_household_is_the_register_record_with_the_officers_changes_and_the_visit() -> None:
    original = HOUSEHOLDS[0]
    snapshot = original.model_dump(mode="json")
    photos = [{"subject": "roof", "sha256": "a" * 64, "location": "evidence"}]
    seen = {
        "officer": "Rina",
        "visit_date": "2026-12-01",
        "latitude": -3.4,
        "longitude": 102.5,
        "photos": photos,
    }
    corrected = corrected_household(snapshot, {"housing": {"roof_material": "thatch"}}, seen)
    assert corrected.housing is not None and corrected.housing.roof_material == "thatch"
    assert (
        original.housing is not None and corrected.housing.floor_material == original.housing.floor_material
    )
    assert corrected.field_visit is not None and corrected.field_visit.roof_photo_ref == "evidence"
    assert corrected.welfare_decile is None and corrected.members == original.members


async def listed(service: Service, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await service.http.get("/reverification-rounds", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.infra
async def test_rounds_are_listed_newest_first_to_the_readers_whose_area_they_touch(service: Service) -> None:
    await with_register(service)
    first = await open_round(service, DISTRICT, {"mode": "sample", "sample_size": 3, "seed": 1})
    closing = await service.http.post(
        f"/reverification-rounds/{first['round_id']}/closing",
        headers=service.auth(Role.REGENCY_OPERATOR, REGENCY),
    )
    assert closing.status_code == 200, closing.text
    second = await open_round(service, DISTRICT, {"mode": "sample", "sample_size": 2, "seed": 2})

    regency = service.auth(Role.REGENCY_OPERATOR, REGENCY)
    everything = await listed(service, regency)
    assert [r["round_id"] for r in everything["items"]] == [second["round_id"], first["round_id"]]
    assert [r["status"] for r in everything["items"]] == ["open", "closed"]
    assert everything["items"][0]["region"] == DISTRICT and everything["items"][0]["households"] == 2
    assert everything["next_after"] is None

    page = await listed(service, regency, limit=1)
    assert [r["round_id"] for r in page["items"]] == [second["round_id"]] and page["next_after"]
    rest = await listed(service, regency, limit=1, after=page["next_after"])
    assert [r["round_id"] for r in rest["items"]] == [first["round_id"]]

    # The district's verifier and the Ministry see them; a district elsewhere sees none.
    district = await listed(service, service.auth(Role.DISTRICT_VERIFIER, DISTRICT))
    assert len(district["items"]) == 2
    ministry = await listed(service, service.auth(Role.MINISTRY_VERIFIER, "ID"))
    assert len(ministry["items"]) == 2
    elsewhere = await listed(service, service.auth(Role.DISTRICT_VERIFIER, "17.71.01"))
    assert elsewhere["items"] == []

    village = service.auth(Role.VILLAGE_OPERATOR, DISTRICT + ".2001")
    refused = await service.http.get("/reverification-rounds", headers=village)
    assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed", refused.text
