"""Bulk imports against the real database and broker: good and bad rows, re-upload, a window closed
mid-import, and the service killed mid-import and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from asyncpg import connect as asyncpg_connect

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

pytestmark = pytest.mark.infra

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
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == len(
            kks
        ) - len(bad_kks)
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
        worker = app.state.import_worker
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
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 8


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
        worker = app.state.import_worker
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
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 5
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


async def _status(client: Any, import_id: str, who: dict[str, str] | None = None) -> dict[str, Any]:
    answer = await client.get(f"/imports/{import_id}", headers=who or operator())
    view: dict[str, Any] = answer.json()
    return view


async def _upload(client: Any, name: str, data: bytes, who: dict[str, str] | None = None) -> str:
    upload = await client.post(
        "/imports", files={"file": (name, data, "text/csv")}, data=IMPORT_FORM, headers=who or operator()
    )
    assert upload.status_code == 202, upload.text
    import_id: str = upload.json()["import_id"]
    return import_id


async def test_a_nul_in_a_name_rejects_its_row_and_a_clean_import_uploaded_after_it_completes(
    service: Any,
) -> None:
    rows = [dict(r) for r in village_rows(6, seed=5)]
    rows[1]["name"] = "Siti\u0000Aminah"
    poisoned_kk = rows[1]["kk_number"]
    clean = [dict(r) for r in village_rows(4, seed=6)]
    async with service(import_chunk_households=2) as (app, client):
        first = await _upload(client, "poisoned.csv", csv_bytes(rows))
        second = await _upload(client, "clean.csv", csv_bytes(clean))
        await wait_until(lambda: _import_done(client, second), within=30, what="the clean import completed")
        await wait_until(lambda: _import_done(client, first), within=30, what="the poisoned import completed")
        view = await _status(client, first)
        assert (2 + 1, "name") in {(r["row"], r["field"]) for r in view["rejected_rows"]}
        assert "U+0000" in next(r["reason"] for r in view["rejected_rows"] if r["field"] == "name")
        assert view["households_rejected"] == 1 and view["households_accepted"] == 5
        assert {r["kk_number"] for r in view["rejected_rows"]} == {poisoned_kk}
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 5 + 4


async def _healthz(client: Any) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/healthz")).json()
    return body


async def test_an_import_that_keeps_failing_is_parked_as_failed_and_the_one_behind_it_completes(
    service: Any,
) -> None:
    rows = village_rows(3, seed=7)
    clean = village_rows(3, seed=8)
    async with service(import_max_attempts=3, import_retry_seconds=0.2) as (app, client):
        db = database_of(app)
        # A fault no check at the door can see: the database refuses one household of the first file.
        kk = rows[0]["kk_number"]
        conn = await asyncpg_connect(db)
        try:
            await conn.execute(
                f"ALTER TABLE proposals ADD CONSTRAINT refuse_one_household "
                f"CHECK (content->'household'->>'kk_number' IS DISTINCT FROM '{kk}')"
            )
        finally:
            await conn.close()
        failing = await _upload(client, "failing.csv", csv_bytes(rows))
        behind = await _upload(client, "behind.csv", csv_bytes(clean))
        await wait_until(lambda: _import_done(client, behind), within=30, what="the import behind completed")

        async def parked() -> bool:
            return bool((await _status(client, failing))["status"] == "failed")

        await wait_until(parked, within=30, what="the failing import parked")
        view = await _status(client, failing)
        assert view["attempts"] == 3
        assert "CheckViolationError" in view["failure_reason"] and "upload" in view["failure_reason"]
        assert "Failing row" not in view["failure_reason"]  # the database's DETAIL holds the row's data
        assert await count(db, "SELECT count(*) FROM proposals") == 3
        # Parked, it is tried no more.
        assert await count(db, "SELECT attempts FROM imports WHERE import_id = $1", uuid.UUID(failing)) == 3


async def test_a_stuck_import_turns_healthz_degraded_with_figures_and_cancelling_it_clears_it(
    service: Any,
) -> None:
    rows = village_rows(2, seed=9)
    settings = {"import_max_attempts": 10_000, "import_retry_seconds": 0.1, "import_stall_seconds": 1.0}
    async with service(**settings) as (app, client):
        assert (await _healthz(client))["checks"]["imports"]["ok"] is True
        conn = await asyncpg_connect(database_of(app))
        try:
            await conn.execute("ALTER TABLE proposals ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        finally:
            await conn.close()
        stuck = await _upload(client, "stuck.csv", csv_bytes(rows))

        async def degraded() -> bool:
            return "imports" in (await _healthz(client))["failing_checks"]

        await wait_until(degraded, within=30, what="/healthz degraded by the stuck import")
        health = await _healthz(client)
        assert health["status"] == "degraded"
        figures = health["checks"]["imports"]
        assert figures["unfinished_imports"] == 1 and figures["seconds_without_progress"] >= 1.0

        ministry = headers(Role.MINISTRY_VERIFIER, "ID")
        cancelled = await client.post(f"/imports/{stuck}/cancellation", headers=ministry)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        async def healthy() -> bool:
            return "imports" not in (await _healthz(client))["failing_checks"]

        await wait_until(healthy, within=10, what="/healthz ok again")


async def test_an_operator_of_the_village_cancels_an_import_and_no_more_of_it_is_worked(service: Any) -> None:
    rows = village_rows(8, seed=10)
    async with service(import_worker_enabled=False, import_chunk_households=3) as (app, client):
        import_id = await _upload(client, "half.csv", csv_bytes(rows))
        worker = app.state.import_worker
        assert await worker.process_next_chunk()
        other = await client.post(f"/imports/{import_id}/cancellation", headers=operator("17.71.01.1002"))
        assert other.status_code == 403
        auditor = await client.post(f"/imports/{import_id}/cancellation", headers=headers(Role.AUDITOR, "ID"))
        assert auditor.status_code == 403
        cancelled = await client.post(f"/imports/{import_id}/cancellation", headers=operator())
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["households_processed"] == 3
        again = await client.post(f"/imports/{import_id}/cancellation", headers=operator())
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        assert not await worker.process_next_chunk()
        view = await _status(client, import_id)
        assert view["status"] == "cancelled" and view["households_processed"] == 3
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 3
        missing = await client.post(f"/imports/{uuid.uuid4()}/cancellation", headers=operator())
        assert missing.status_code == 404

        done = await _upload(client, "small.csv", csv_bytes(village_rows(1, seed=11)))
        while await worker.process_next_chunk():
            pass
        late = await client.post(f"/imports/{done}/cancellation", headers=operator())
        assert late.status_code == 409 and late.json()["code"] == "import_completed"


async def test_a_chunk_being_written_when_the_import_is_cancelled_rolls_back(service: Any) -> None:
    async with service(import_worker_enabled=False, import_chunk_households=3) as (app, client):
        import_id = await _upload(client, "race.csv", csv_bytes(village_rows(3, seed=12)))
        db = database_of(app)
        # The cancellation holds the import's row when the chunk reaches its end.
        conn = await asyncpg_connect(db)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(
                "UPDATE imports SET status = 'cancelled' WHERE import_id = $1", uuid.UUID(import_id)
            )
            worker = app.state.import_worker
            chunk = asyncio.ensure_future(worker.process_next_chunk())
            await asyncio.sleep(1.0)
            assert not chunk.done()
            await tx.commit()
            assert await chunk
        finally:
            await conn.close()
        assert await count(db, "SELECT count(*) FROM proposals") == 0
        assert await count(db, "SELECT count(*) FROM events WHERE stream_id LIKE 'proposal:%'") == 0
        assert (await _status(client, import_id))["households_processed"] == 0


async def test_a_semicolon_separated_file_as_a_spreadsheet_saves_it_imports_like_a_comma_one(
    service: Any,
) -> None:
    rows = village_rows(3, seed=13)
    semicolons = csv_bytes(rows).decode().replace(",", ";").encode()
    assert b"," not in semicolons  # the sample has no comma inside a cell
    async with service() as (_app, client):
        import_id = await _upload(client, "excel-id.csv", semicolons)
        await wait_until(lambda: _import_done(client, import_id), what="import completed")
        view = await _status(client, import_id)
        assert view["households_accepted"] == 3 and view["rows_rejected"] == 0


async def test_import_messages_say_which_column_is_missing_and_a_huge_cell_rejects_only_its_row(
    service: Any,
) -> None:
    rows = [dict(r) for r in village_rows(3, seed=14)]
    kk_without_street = rows[0]["kk_number"]
    for r in rows:
        if r["kk_number"] == kk_without_street:
            r["street"] = ""
    huge = len(rows) - 1
    rows[huge]["occupation"] = "x" * (5 * 1024 * 1024)
    async with service() as (_app, client):
        import_id = await _upload(client, "gaps.csv", csv_bytes(rows))
        await wait_until(lambda: _import_done(client, import_id), what="import completed")
        view = await _status(client, import_id)
        street = [r for r in view["rejected_rows"] if r["field"] == "address_street"]
        assert street and "the column address_street is missing or empty" in street[0]["reason"]
        assert all("valid dictionary" not in r["reason"] for r in view["rejected_rows"])
        unreadable = [r for r in view["rejected_rows"] if r["row"] == huge + 2]
        assert unreadable and "field larger than field limit" in unreadable[0]["reason"]
        assert view["households_accepted"] >= 1

        # A file without a street column at all names the columns it lacks.
        no_names = [{k: v for k, v in r.items() if k != "name"} for r in village_rows(1, seed=15)]
        refused = await client.post(
            "/imports", files={"file": ("n.csv", csv_bytes(no_names), "text/csv")}, headers=operator()
        )
        assert refused.status_code == 422 and "lacks the column(s) name" in refused.json()["detail"]


async def test_a_taken_proposal_id_sent_without_a_key_is_not_told_to_use_a_new_key(service: Any) -> None:
    body = {**sample_bodies(1, seed=3)[0], "proposal_id": str(uuid.uuid4())}
    async with service() as (_app, client):
        assert (await client.post("/proposals", json=body, headers=operator())).status_code == 201
        changed = {**body, "programs": ["PIP"]}
        conflict = await client.post("/proposals", json=changed, headers=operator())
        assert conflict.status_code == 409
        assert "key" not in conflict.json()["detail"] and "proposal_id" in conflict.json()["detail"]


async def test_database_connections_cut_mid_import_count_nothing_against_it_and_it_completes(
    service: Any,
) -> None:
    """What a PostgreSQL restart does to the worker (its connections end mid-chunk, mid-reset) is an
    outage, not a fault of the file: with a single attempt allowed, the import still completes."""
    rows = village_rows(30, seed=21)
    settings = {"import_max_attempts": 1, "import_retry_seconds": 0.1, "import_chunk_households": 2}
    async with service(**settings) as (app, client):
        db = database_of(app)
        imported = await _upload(client, "cut.csv", csv_bytes(rows))
        cutter = await asyncpg_connect(db)
        cuts = 0
        try:
            for _ in range(200):
                if (await _status(client, imported))["status"] in ("completed", "failed"):
                    break
                cuts += await cutter.fetchval(
                    """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()"""
                )
                await asyncio.sleep(0.02)
        finally:
            await cutter.close()
        await wait_until(lambda: _import_done(client, imported), within=60, what="the import completed")
        view = await _status(client, imported)
        assert cuts > 0
        assert view["attempts"] == 0, view
        assert await count(db, "SELECT count(*) FROM proposals") == 30

        async def healthy() -> bool:
            return bool((await _healthz(client))["status"] == "ok")

        await wait_until(healthy, within=60, what="/healthz ok after the cuts")


async def test_every_rejected_row_carries_a_stable_code_and_its_values_beside_the_english_reason(
    service: Any,
) -> None:
    rows = [dict(r) for r in village_rows(3, seed=16)]
    bad_nik_kk, no_street_kk = rows[0]["kk_number"], rows[-1]["kk_number"]
    assert bad_nik_kk != no_street_kk
    rows[0]["nik"] = "12345"
    for r in rows:
        if r["kk_number"] == no_street_kk:
            r["street"] = ""
    rows.append({**rows[1], "kk_number": ""})  # a row that belongs to no household
    async with service() as (_app, client):
        import_id = await _upload(client, "codes.csv", csv_bytes(rows))
        await wait_until(lambda: _import_done(client, import_id), what="import completed")
        view = await _status(client, import_id)
        by_row = {(r["row"], r["field"]): r for r in view["rejected_rows"]}
        nik = by_row[(2, "nik")]
        assert nik["code"] == "invalid_value" and nik["params"]["type"] and nik["reason"]
        assert nik["kk_number"] == bad_nik_kk
        others = [r for r in view["rejected_rows"] if r["kk_number"] == bad_nik_kk and r["row"] != 2]
        assert others and all(r["code"] == "household_rejected" for r in others)
        assert all(r["params"] == {"rows": "2"} for r in others)
        street = [r for r in view["rejected_rows"] if r["field"] == "address_street"]
        assert street and {r["code"] for r in street} == {"column_missing"}
        no_kk = by_row[(len(rows) + 1, "kk_number")]
        assert no_kk["code"] == "kk_number_missing" and "KK number" in no_kk["reason"]
