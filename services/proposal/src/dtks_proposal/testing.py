"""Helpers for the proposal service's tests and benchmark: settings, tokens, sample data, events.

Sample households come from ``dtks_synthetic`` (real region codes, valid NIKs and KK numbers).
Events of other services are produced as real envelopes to the real topics, built with the contracts.

Why this ships in the service's package: three places outside the service's own tests use it, the
cross-service tests (``tests/test_hostile_text.py``), the benchmarks (``python -m benchmarks``) and
``services/proposal/tests``, and pytest runs with ``--import-mode=importlib``, under which a module
beside the tests is importable by none of them. Nothing of the service imports it, and it holds no
secret: its tokens are development tokens (``LOCAL_JWT_SECRET``), which a production service refuses
(it will not start with a shared secret set). ``dtks_synthetic`` is imported inside the functions, so
a deployment without that package loses nothing but this module.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.topics import PROPOSAL_EVENTS
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.settings import ProposalSettings
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import publish_events

VILLAGE = "17.71.01.1004"  # Kota Bengkulu, Selebar district: a real urban village
OTHER_VILLAGE = "17.71.01.1001"


def settings_for(
    kafka_bootstrap: str, server_url: str, topic_prefix: str, **overrides: Any
) -> ProposalSettings:
    """Settings for a service under test: its own database on the test server and its own topics."""
    return ProposalSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=server_url,
        database_name=f"proposal_{uuid.uuid4().hex[:10]}",
        topic_prefix=topic_prefix,
        **overrides,
    )


def headers(
    role: Role, region: str, subject: str | None = None, *, institution_id: str | None = None
) -> dict[str, str]:
    token = TokenService(LOCAL_JWT_SECRET).issue(
        subject=subject or f"{role.value}@{region}", role=role, region=region, institution_id=institution_id
    )
    return {"Authorization": f"Bearer {token}"}


def institution_body(
    village: str = VILLAGE, *, kind: str = "institution_registration", **institution: Any
) -> dict[str, Any]:
    """A children's home (LKSA) in ``village`` with two residents, as POST /proposals takes it.
    Keyword arguments replace fields of the institution."""
    record: dict[str, Any] = {
        "name": "LKSA Harapan Bunda",
        "legal_form": "foundation",
        "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
        "service_type": "children",
        "address": {"street": "Jl. Merapi No. 21", "rt": "004", "rw": "002"},
        "head": "Nurhayati",
        "capacity": 40,
        "accreditation": {
            "grade": "B",
            "valid_until": (dt.date.today() + dt.timedelta(days=700)).isoformat(),
        },
        "licence": {"number": "460/112/DINSOS/2024", "issued_by": village[:5], "issued_on": "2024-02-01"},
        "contact": {"phone": "+6273621234"},
        "bank_account_ref": "bank-ref:lksa-harapan-bunda",
        "residents": [
            {
                "nik": "1771010504100001",
                "name": "Andi Pratama",
                "birth_date": "2010-04-05",
                "admitted_on": "2019-01-14",
            },
            {
                "nik": "1771014708120002",
                "name": "Putri Lestari",
                "birth_date": "2012-08-07",
                "admitted_on": "2020-07-01",
            },
        ],
    }
    record.update(institution)
    return {"proposal_id": str(uuid.uuid4()), "kind": kind, "village_code": village, "institution": record}


def operator(village: str = VILLAGE) -> dict[str, str]:
    return headers(Role.VILLAGE_OPERATOR, village)


def sample_bodies(count: int, village: str = VILLAGE, seed: int = 1) -> list[dict[str, Any]]:
    """Clean new-household proposal bodies for one village."""
    from dtks_synthetic import generate_population, proposals

    population = generate_population(village[:5], people=max(4000, count * 60), seed=seed)
    return [p.body for p in proposals(population, count, seed=seed, village_code=village)]


def rows_of(bodies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The member rows (bulk-file layout of dtks_synthetic.member_rows) of proposal bodies."""
    from dtks_contracts.household import Household
    from dtks_synthetic import member_rows

    return list(member_rows(Household.model_validate(b["household"]) for b in bodies))


def csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    columns = list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def jsonl_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def xlsx_bytes(rows: Sequence[Mapping[str, Any]], *, blank_rows_before: Iterable[int] = ()) -> bytes:
    """The rows as an Excel workbook's first sheet, the way a spreadsheet keeps them: numbers as
    numbers (a KK number), dates as dates, truth values as such, everything else as text.
    ``blank_rows_before`` leaves an empty sheet row before those row indexes."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    columns = list(rows[0])
    sheet.append(columns)
    blanks = set(blank_rows_before)
    for index, row in enumerate(rows):
        if index in blanks:
            sheet.append([])
        sheet.append([_typed(c, row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _typed(column: str, value: Any) -> Any:
    if isinstance(value, str) and column == "kk_number" and value.isdigit():
        return int(value)
    if isinstance(value, str) and column.endswith(("birth_date", "held_on")):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


async def produce(
    kafka_bootstrap: str, topic_prefix: str, payloads: Sequence[EventPayload]
) -> list[EventEnvelope]:
    """Publish other services' events, as they would, to their real (prefixed) topics."""
    envelopes = [EventEnvelope.new(payload, aggregate_version=1, actor=None) for payload in payloads]
    await publish_events(kafka_bootstrap, topic_prefix, envelopes)
    return envelopes


async def proposal_events_in_kafka(kafka_bootstrap: str, topic_prefix: str) -> int:
    """How many records the proposal topic holds (sum of end offsets over its partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        name = PROPOSAL_EVENTS.with_prefix(topic_prefix).name
        partitions = [TopicPartition(name, p) for p in range(PROPOSAL_EVENTS.partitions)]
        offsets = await consumer.end_offsets(partitions)
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def count(database_url: str, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def database_of(app: Any) -> str:
    """The database URL the service under test created for itself."""
    url: str = app.state.runtime.database_url
    return url


def village_bodies(households: int, village: str = VILLAGE, seed: int = 1) -> list[dict[str, Any]]:
    """Clean new-household bodies from the village's district, all moved into ``village``: as many as
    wanted, where ``sample_bodies`` is limited by the families one village really has."""
    from itertools import islice

    from dtks_synthetic import generate_population, iter_new_household_bodies

    # A small population drawn with an unlucky seed can hold no new family at all (3 of 200 seeds
    # for 3 households): draw a larger one then, so a test's random seed never decides its outcome.
    # The first draw is kept whenever it suffices, so seeded callers get the same rows as before.
    bodies: list[dict[str, Any]] = []
    for people in (households * 10, households * 100):
        population = generate_population(village[:8], people=people, seed=seed)
        bodies = list(islice(iter_new_household_bodies(population, seed=seed), households))
        if len(bodies) == households:
            break
    if len(bodies) < households:
        raise ValueError(f"only {len(bodies)} new households generated, asked for {households}")
    for body in bodies:
        body["village_code"] = village
        body["household"] = {**body["household"], "village_code": village}
    return bodies


def village_rows(households: int, village: str = VILLAGE, seed: int = 1) -> list[dict[str, Any]]:
    """Member rows of ``households`` new households, all moved into one village (one operator's file).

    The families come from the village's district, so NIK and KK prefixes stay real and consistent.
    """
    return rows_of(village_bodies(households, village, seed))


IMPORT_FORM = {
    "deliberation_kind": "muskel",
    "deliberation_held_on": "2026-10-20",
    "deliberation_minutes_ref": "BA-07/MUSKEL/X/2026",
}
