"""The civil-registry simulator against a real PostgreSQL, loaded with a generated population."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from dtks_civil_registry.domain.outage import Outage
from dtks_civil_registry.loader import load_file_direct, post_people
from dtks_civil_registry.main import build_app
from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_synthetic import generate_population

POPULATION = generate_population("17.71", people=400, seed=21)
RECORDS = [r.to_json() for r in POPULATION.civil_registry_records()]


def settings_for(database_url: str, **extra: object) -> CivilRegistrySettings:
    server, _, name = database_url.rpartition("/")
    return CivilRegistrySettings(database_url=f"{server}/postgres", database_name=name, **extra)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings_for(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://civil-registry") as c:
            yield c


async def loaded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    assert await post_people(client, RECORDS) == (len(RECORDS), len(RECORDS))
    return client


@pytest.mark.infra
async def test_a_loaded_population_answers_people_as_generated(client):
    await loaded(client)
    for record in RECORDS[::37]:
        response = await client.get(f"/people/{record['nik']}")
        assert response.status_code == 200
        assert response.json() == record
    dead = next(r for r in RECORDS if not r["alive"])
    assert (await client.get(f"/people/{dead['nik']}")).json()["died_on"] == dead["died_on"]


@pytest.mark.infra
async def test_families_list_their_members_head_first(client):
    await loaded(client)
    family = next(f for f in POPULATION.families() if len(f.members) >= 3)
    response = await client.get(f"/families/{family.kk_number}")
    assert response.status_code == 200
    body = response.json()
    assert body["village_code"] == family.village_code and body["address"] == family.street
    assert body["members"][0]["relation_to_head"] == "head"
    assert sorted(m["nik"] for m in body["members"]) == sorted(p.nik for p in family.members)


@pytest.mark.infra
async def test_unknown_people_and_families_are_404_problems_and_malformed_numbers_422(client):
    await loaded(client)
    unknown = RECORDS[0]["nik"][:12] + "9999"
    response = await client.get(f"/people/{unknown}")
    assert response.status_code == 404 and response.json()["code"] == "person_not_found"
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.get("/families/1771010101019999")
    assert response.status_code == 404 and response.json()["code"] == "family_not_found"
    response = await client.get("/people/12345")
    assert response.status_code == 422 and response.json()["code"] == "invalid_nik"


@pytest.mark.infra
async def test_batch_lookups_report_found_and_missing(client):
    await loaded(client)
    niks = [RECORDS[0]["nik"], RECORDS[1]["nik"], "1771010101019999"]
    body = (await client.post("/people/lookup", json={"niks": niks})).json()
    assert sorted(p["nik"] for p in body["people"]) == sorted(niks[:2])
    assert body["missing"] == ["1771010101019999"]
    kks = [RECORDS[0]["kk_number"], "1771010101019999"]
    body = (await client.post("/families/lookup", json={"kk_numbers": kks})).json()
    assert [f["kk_number"] for f in body["families"]] == kks[:1] and body["missing"] == kks[1:]


@pytest.mark.infra
async def test_batch_lookups_answer_exactly_what_the_single_lookups_answer(client):
    # The batch answers are built as JSON by the database: same fields, formats and order.
    await loaded(client)
    sample = RECORDS[::23]
    niks = [r["nik"] for r in sample]
    unknown = ["1771010101019999", "1771010101019998"]
    body = (
        await client.post("/people/lookup", json={"niks": [unknown[1], *niks, niks[0], unknown[0]]})
    ).json()
    assert sorted(body["people"], key=lambda p: p["nik"]) == sorted(sample, key=lambda r: r["nik"])
    assert body["missing"] == unknown[::-1]  # in the order asked, once each
    kks = list(dict.fromkeys(r["kk_number"] for r in sample))
    body = (await client.post("/families/lookup", json={"kk_numbers": [*kks, unknown[0]]})).json()
    singles = [(await client.get(f"/families/{kk}")).json() for kk in kks]
    assert body == {"families": singles, "missing": unknown[:1]}
    empty = (await client.post("/people/lookup", json={"niks": []})).json()
    assert empty == {"people": [], "missing": []}


@pytest.mark.infra
async def test_loading_is_an_idempotent_upsert_by_nik(client):
    await loaded(client)
    assert await post_people(client, RECORDS) == (len(RECORDS), 0)
    changed = {**RECORDS[5], "alive": False, "died_on": "2026-10-01"}
    assert await post_people(client, [changed, RECORDS[6]]) == (2, 1)
    assert (await client.get(f"/people/{changed['nik']}")).json() == changed
    assert (await client.get("/healthz")).json()["status"] == "ok"


@pytest.mark.infra
async def test_invalid_records_are_refused_whole_with_the_field_named(client):
    bad = {**RECORDS[0], "nik": "9999990101010001"}
    response = await client.post("/people", json={"people": [RECORDS[1], bad]})
    assert response.status_code == 422
    assert any(e["field"] == "people[1].nik" for e in response.json()["errors"])
    assert (await client.get(f"/people/{RECORDS[1]['nik']}")).status_code == 404


@pytest.mark.infra
async def test_outage_switch_answers_503_then_recovers(client):
    await loaded(client)
    nik = RECORDS[0]["nik"]
    state = (await client.post("/admin/outage", json={"until_seconds": 120})).json()
    assert state["active"] and 0 < state["remaining_seconds"] <= 120
    response = await client.get(f"/people/{nik}")
    assert response.status_code == 503 and response.json()["code"] == "civil_registry_unavailable"
    assert 0 < int(response.headers["retry-after"]) <= 120
    assert (await client.post("/people", json={"people": RECORDS[:1]})).status_code == 503
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.delete("/admin/outage")).json()["active"] is False
    assert (await client.get(f"/people/{nik}")).status_code == 200


@pytest.mark.infra
async def test_outage_from_the_environment_lasts_until_ended(database_url):
    app = build_app(settings_for(database_url, civil_registry_outage_seconds=float("inf")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cr") as c:
            assert (await c.get(f"/people/{RECORDS[0]['nik']}")).status_code == 503
            assert (await c.get("/admin/outage")).json() == {"active": True, "remaining_seconds": None}
            await c.delete("/admin/outage")
            assert (await c.get(f"/people/{RECORDS[0]['nik']}")).status_code == 404


@pytest.mark.infra
async def test_direct_loader_copies_a_json_lines_file(database_url, tmp_path):
    path = tmp_path / "civil_registry.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    settings = settings_for(database_url)
    first = await load_file_direct(path, settings, batch=150)
    again = await load_file_direct(path, settings, batch=150)
    assert (first.loaded, first.changed) == (len(RECORDS), len(RECORDS))
    assert (again.loaded, again.changed) == (len(RECORDS), 0)


def test_outage_clock_starts_ends_and_expires():
    now = [100.0]
    outage = Outage(clock=lambda: now[0])
    assert not outage.active
    outage.start(30)
    assert outage.active and outage.retry_after() == 30
    now[0] += 31
    assert not outage.active
    outage.start(float("inf"))
    assert outage.active and outage.retry_after() == 60
    outage.start(0)
    assert not outage.active


@pytest.mark.infra
async def test_http_loader_posts_a_file_to_a_served_simulator(database_url, tmp_path):
    import asyncio
    import socket

    import uvicorn

    from dtks_civil_registry.loader import load_file_http

    path = tmp_path / "civil_registry.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(build_app(settings_for(database_url)), port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the simulator did not start"
            await asyncio.sleep(0.05)
        result = await load_file_http(path, f"http://127.0.0.1:{port}", batch=120)
        assert (result.loaded, result.changed) == (len(RECORDS), len(RECORDS))
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({**RECORDS[0], "nik": "123"}) + "\n")
        with pytest.raises(RuntimeError, match="refused a batch \\(422\\)"):
            await load_file_http(bad, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
