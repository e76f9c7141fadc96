"""Bulk imports against the real database and broker: good and bad rows, re-upload, a window closed
mid-import, and the service killed mid-import and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from typing import Any

import httpx

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import (
    IMPORT_FORM,
    count,
    csv_bytes,
    database_of,
    headers,
    jsonl_bytes,
    operator,
    proposal_events_in_kafka,
    sample_bodies,
    village_rows,
)
from dtks_runtime.testing import Infra, wait_until

ROWS = village_rows(40)


async def _import_done(client: Any, import_id: str) -> bool:
    view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
    return bool(view["status"] == "completed")


async def test_an_import_accepts_good_households_reports_every_bad_row_and_a_reupload_adds_nothing(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    rows = [dict(r) for r in ROWS]
    kks = list(dict.fromkeys(r["kk_number"] for r in rows))
    bad_rows = {
        3: ("nik", "12345"),  # file row 4 (the header is row 1)
        10: ("birth_date", "2001-02-30"),
        20: ("sex", "x"),
    }
    for index, (column, value) in bad_rows.items():
        rows[index][column] = value
    bad_kks = {rows[i]["kk_number"] for i in bad_rows}
    bad_household_rows = sum(1 for r in rows if r["kk_number"] in bad_kks)
    data = csv_bytes(rows)
    async with service(import_chunk_households=7) as (app, client):
        upload = await client.post(
            "/imports", files={"file": ("musdes.csv", data, "text/csv")}, data=IMPORT_FORM, headers=operator()
        )
        assert upload.status_code == 202, upload.text
        import_id = upload.json()["import_id"]
        await wait_until(lambda: _import_done(client, import_id), what="import completed")
        view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
        assert view["rows_total"] == len(rows) and view["rows_processed"] == len(rows)
        assert view["households_accepted"] == len(kks) - len(bad_kks)
        assert view["households_rejected"] == len(bad_kks)
        assert view["rows_rejected"] == bad_household_rows
        reported = {(r["row"], r["field"]) for r in view["rejected_rows"]}
        for index, (column, _) in bad_rows.items():
            assert (index + 2, column) in reported
        assert view["next_cursor"] is None
        # Page by page, the same rejected rows in the same order, none twice, none left out.
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"/imports/{import_id}", params=params, headers=operator())).json()
            assert len(page["rejected_rows"]) <= 2
            pages += page["rejected_rows"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == view["rejected_rows"] and len(pages) > 2
        bad = await client.get(f"/imports/{import_id}", params={"cursor": "nope"}, headers=operator())
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == len(kks) - len(bad_kks)

        reupload = await client.post(
            "/imports", files={"file": ("again.csv", data, "text/csv")}, data=IMPORT_FORM, headers=operator()
        )
        assert reupload.status_code == 200 and reupload.json()["import_id"] == import_id
        assert reupload.json()["duplicate_upload"] is True
        assert await count(db, "SELECT count(*) FROM imports") == 1
        assert await count(db, "SELECT count(*) FROM events") == len(kks) - len(bad_kks)
        await wait_until(
            lambda: _kafka_holds(kafka_bootstrap, topic_prefix, len(kks) - len(bad_kks)),
            what="events in Kafka",
        )


async def _kafka_holds(bootstrap: str, prefix: str, n: int) -> bool:
    return await proposal_events_in_kafka(bootstrap, prefix) == n


async def test_a_window_closed_mid_import_stops_the_rest_and_leaves_nothing_half_done(service: Any) -> None:
    kks = list(dict.fromkeys(r["kk_number"] for r in ROWS))
    ministry = headers(Role.MINISTRY_VERIFIER, "ID")
    # The worker is driven step by step here, so the close falls between two chunks for certain.
    async with service(import_worker_enabled=False, import_chunk_households=4) as (app, client):
        assert (await client.put("/windows/17.71", json={"open": True}, headers=ministry)).status_code == 200
        upload = await client.post(
            "/imports",
            files={"file": ("f.jsonl", jsonl_bytes(ROWS), "application/x-ndjson")},
            data=IMPORT_FORM,
            headers=operator(),
        )
        import_id = upload.json()["import_id"]
        worker = app.state.import_worker_for_tests
        assert await worker.process_next_chunk()
        assert await worker.process_next_chunk()
        assert await count(database_of(app), "SELECT used FROM windows") == 8
        closed = {"open": False, "period": {"start": "2099-01-01", "end": "2099-12-31"}}
        assert (await client.put("/windows/17.71", json=closed, headers=ministry)).status_code == 200
        while await worker.process_next_chunk():
            pass
        view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
        assert view["status"] == "completed"
        assert view["households_accepted"] == 8 and view["households_rejected"] == len(kks) - 8
        reasons = {r["reason"] for r in view["rejected_rows"]}
        assert len(reasons) == 1 and "closed until 2099-01-01" in reasons.pop()
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM proposals") == 8
        assert await count(db, "SELECT count(*) FROM events") == 8


async def test_households_naming_a_taken_proposal_id_are_rejected_and_not_counted_against_the_quota(
    service: Any,
) -> None:
    ministry = headers(Role.MINISTRY_VERIFIER, "ID")
    rows = [dict(r) for r in village_rows(6, seed=5)]
    kks = list(dict.fromkeys(r["kk_number"] for r in rows))
    async with service(import_worker_enabled=False, import_chunk_households=10) as (app, client):
        quota = {"open": True, "period": {"start": "2000-01-01", "end": "2099-12-31"}, "quota": 100}
        assert (await client.put("/windows/17.71", json=quota, headers=ministry)).status_code == 200
        taken = str(uuid.uuid4())
        single = {**sample_bodies(1, seed=9)[0], "proposal_id": taken}
        assert (await client.post("/proposals", json=single, headers=operator())).status_code == 201
        twice = str(uuid.uuid4())
        named = {kks[2]: taken, kks[3]: twice, kks[4]: twice}
        for row in rows:
            row["proposal_id"] = named.get(row["kk_number"])
        upload = await client.post(
            "/imports",
            files={"file": ("f.csv", csv_bytes(rows), "text/csv")},
            data=IMPORT_FORM,
            headers=operator(),
        )
        import_id = upload.json()["import_id"]
        worker = app.state.import_worker_for_tests
        while await worker.process_next_chunk():
            pass
        view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
        assert view["status"] == "completed"
        assert view["households_accepted"] == 4 and view["households_rejected"] == 2
        reasons = {r["kk_number"]: r["reason"] for r in view["rejected_rows"] if r["field"] == "proposal_id"}
        assert set(reasons) == {kks[2], kks[4]}
        assert "already submitted" in reasons[kks[2]] and "another household" in reasons[kks[4]]
        assert (await client.get("/windows/17.71", headers=ministry)).json()["used"] == 5
        db = database_of(app)
        assert await count(db, "SELECT count(*) FROM events") == 5
        assert await count(db, "SELECT count(*) FROM proposal_timeline") == 5
        assert await count(db, "SELECT count(*) FROM import_households WHERE proposal_id IS NOT NULL") == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from dtks_proposal.main import run; run()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_service_killed_mid_import_and_restarted_loses_no_row_and_doubles_none(
    infra: Infra, topic_prefix: str, database_url: str
) -> None:
    rows = village_rows(600, seed=3)
    kks = set(r["kk_number"] for r in rows)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_DATABASE_NAME": database_url.rpartition("/")[2],
        "DTKS_TOPIC_PREFIX": topic_prefix,
        "DTKS_PROPOSAL_PORT": str(port),
        "DTKS_IMPORT_CHUNK_HOUSEHOLDS": "5",
        "DTKS_LOG_LEVEL": "warning",
    }
    process = _start(env)
    try:
        await wait_until(lambda: _healthy(base), within=60, what="service up")
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            upload = await client.post(
                "/imports",
                files={"file": ("big.csv", csv_bytes(rows), "text/csv")},
                data=IMPORT_FORM,
                headers=operator(),
            )
            assert upload.status_code == 202, upload.text
            import_id = upload.json()["import_id"]

            async def started() -> bool:
                view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
                return bool(view["households_processed"] >= 10)

            await wait_until(started, what="import under way")
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            done_at_kill = await count(database_url, "SELECT count(*) FROM import_households WHERE done")
            assert 0 < done_at_kill < len(kks), "the kill must fall in the middle of the import"

            process = _start(env)
            await wait_until(lambda: _healthy(base), within=60, what="service up again")

            async def finished() -> bool:
                view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
                return bool(view["status"] == "completed")

            await wait_until(finished, within=120, what="import completed after restart")
            view = (await client.get(f"/imports/{import_id}", headers=operator())).json()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert view["rows_processed"] == len(rows) and view["households_processed"] == len(kks)
    assert view["households_accepted"] + view["households_rejected"] == len(kks)
    assert view["households_accepted"] == len(kks), view["rejected_rows"][:3]
    assert await count(database_url, "SELECT count(*) FROM proposals") == len(kks)
    assert await count(
        database_url, "SELECT count(DISTINCT content->'household'->>'kk_number') FROM proposals"
    ) == len(kks)
    assert await count(
        database_url, "SELECT count(*) FROM events WHERE event_type = 'proposal.submitted'"
    ) == len(kks)
    assert await count(database_url, "SELECT count(*) FROM import_rejections") == 0
