"""The `people` table: one row per NIK, loaded in bulk with COPY and looked up by NIK or KK number.

A load copies the batch into a temporary staging table and upserts from there in one statement:
COPY is the fastest way into PostgreSQL, and the upsert makes loading the same file twice a no-op
(the `changed` count says so). Rows that did not change are not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import asyncpg

from dtks_civil_registry.domain.people import PersonRecord
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex

COLUMNS: Final = (
    "nik", "name", "birth_date", "sex", "kk_number", "address", "rt", "rw", "village_code",
    "alive", "died_on", "moved_to", "moved_on", "relation_to_head",
)  # fmt: skip

MIGRATIONS: Final = [
    """CREATE TABLE people (
           nik text PRIMARY KEY,
           name text NOT NULL,
           birth_date date NOT NULL,
           sex text NOT NULL,
           kk_number text NOT NULL,
           address text NOT NULL,
           rt text,
           rw text,
           village_code text NOT NULL,
           alive boolean NOT NULL,
           died_on date,
           moved_to text,
           moved_on date,
           relation_to_head text,
           updated_at timestamptz NOT NULL DEFAULT now()
       );
       CREATE INDEX people_by_kk ON people (kk_number);""",
]

_SELECT: Final = f"SELECT {', '.join(COLUMNS)} FROM people"
_STAGING: Final = f"""CREATE TEMP TABLE IF NOT EXISTS people_staging
    AS SELECT {", ".join(COLUMNS)} FROM people WITH NO DATA"""
_UPSERT: Final = f"""
    INSERT INTO people ({", ".join(COLUMNS)})
    SELECT {", ".join(COLUMNS)} FROM people_staging
    ON CONFLICT (nik) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])}, updated_at = now()
    WHERE ({", ".join(f"people.{c}" for c in COLUMNS[1:])})
          IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in COLUMNS[1:])})"""

# Members of a family card in card order: the head first, then by age.
_HEAD_FIRST: Final = "ORDER BY (relation_to_head IS DISTINCT FROM 'head'), birth_date, nik"


def _row(p: PersonRecord) -> tuple[Any, ...]:
    return (
        p.nik, p.name, p.birth_date, p.sex.value, p.kk_number, p.address, p.rt, p.rw, p.village_code,
        p.alive, p.died_on, p.moved_to, p.moved_on,
        p.relation_to_head.value if p.relation_to_head else None,
    )  # fmt: skip


def person(row: Mapping[str, Any]) -> PersonRecord:
    # Rows were validated on the way in; constructing without re-validating keeps look-ups fast.
    fields = dict(row)
    fields["sex"] = Sex(fields["sex"])
    if fields["relation_to_head"] is not None:
        fields["relation_to_head"] = RelationToHead(fields["relation_to_head"])
    return PersonRecord.model_construct(**fields)


async def load(conn: asyncpg.Connection, people: Iterable[PersonRecord]) -> tuple[int, int]:
    """Upsert people by NIK (the last record of a NIK in the batch wins): (records, rows changed)."""
    latest = {p.nik: p for p in people}
    async with conn.transaction():
        await conn.execute(_STAGING)
        await conn.execute("TRUNCATE people_staging")
        await conn.copy_records_to_table(
            "people_staging", records=[_row(p) for p in latest.values()], columns=COLUMNS
        )
        status = await conn.execute(_UPSERT)
        await conn.execute("TRUNCATE people_staging")
    return len(latest), int(status.rsplit(" ", 1)[1])


async def find_people(conn: asyncpg.Connection, niks: Sequence[str]) -> list[PersonRecord]:
    rows = await conn.fetch(f"{_SELECT} WHERE nik = ANY($1::text[])", list(niks))
    return [person(r) for r in rows]


async def find_families(conn: asyncpg.Connection, kk_numbers: Sequence[str]) -> dict[str, list[PersonRecord]]:
    """kk_number -> its members, head first; numbers nobody carries are absent."""
    rows = await conn.fetch(f"{_SELECT} WHERE kk_number = ANY($1::text[]) {_HEAD_FIRST}", list(kk_numbers))
    families: dict[str, list[PersonRecord]] = {}
    for r in rows:
        families.setdefault(r["kk_number"], []).append(person(r))
    return families


# A person as JSON, built by PostgreSQL: the same fields and formats as PersonRecord's JSON (dates
# ISO, nulls kept). Batch look-ups answer thousands of people per request, and building their JSON
# in C inside the query costs a fraction of making a model per row in Python and serializing it.
def _person_json(alias: str) -> str:
    return "json_build_object(" + ", ".join(f"'{c}', {alias}.{c}" for c in COLUMNS) + ")"


_PEOPLE_FOUND_JSON: Final = f"""
    WITH wanted AS (SELECT n, min(o) AS o FROM unnest($1::text[]) WITH ORDINALITY AS w(n, o) GROUP BY n),
         found AS (SELECT p.* FROM people p WHERE p.nik IN (SELECT n FROM wanted))
    SELECT json_build_object(
        'people', COALESCE((SELECT json_agg({_person_json("p")}) FROM found p), '[]'::json),
        'missing', COALESCE((SELECT json_agg(w.n ORDER BY w.o) FROM wanted w
                             WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.nik = w.n)), '[]'::json)
    )::text"""

_FAMILIES_FOUND_JSON: Final = f"""
    WITH wanted AS (SELECT n, min(o) AS o FROM unnest($1::text[]) WITH ORDINALITY AS w(n, o) GROUP BY n),
         members AS (SELECT p.*, row_number() OVER (PARTITION BY p.kk_number {_HEAD_FIRST}) AS place
                     FROM people p WHERE p.kk_number IN (SELECT n FROM wanted)),
         families AS (
             SELECT m.kk_number,
                    json_build_object(
                        'kk_number', m.kk_number,
                        'village_code', (array_agg(m.village_code ORDER BY m.place))[1],
                        'address', (array_agg(m.address ORDER BY m.place))[1],
                        'rt', (array_agg(m.rt ORDER BY m.place))[1],
                        'rw', (array_agg(m.rw ORDER BY m.place))[1],
                        'members', json_agg({_person_json("m")} ORDER BY m.place)
                    ) AS family
             FROM members m GROUP BY m.kk_number)
    SELECT json_build_object(
        'families', COALESCE((SELECT json_agg(f.family ORDER BY w.o) FROM families f
                              JOIN wanted w ON w.n = f.kk_number), '[]'::json),
        'missing', COALESCE((SELECT json_agg(w.n ORDER BY w.o) FROM wanted w
                             WHERE NOT EXISTS (SELECT 1 FROM families f WHERE f.kk_number = w.n)), '[]'::json)
    )::text"""


async def people_found_json(conn: asyncpg.Connection, niks: Sequence[str]) -> str:
    """The JSON of a `PeopleFound` answer for `niks`: found people, and the unknown NIKs in order."""
    return str(await conn.fetchval(_PEOPLE_FOUND_JSON, list(niks)))


async def families_found_json(conn: asyncpg.Connection, kk_numbers: Sequence[str]) -> str:
    """The JSON of a `FamiliesFound` answer: each card (members head first) in the order asked."""
    return str(await conn.fetchval(_FAMILIES_FOUND_JSON, list(kk_numbers)))


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM people"))
