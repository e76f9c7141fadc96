"""The register as the registry's events describe it (`registered_households`, `registered_people`),
and the facts the integrity standard reads from it and from the open claims."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from dtks_contracts.household import Household
from dtks_contracts.institution import Institution
from dtks_runtime.sql_arrays import in_literal, plain_array, text_array, unnest_literals
from dtks_verification.adapters.proposals import ProposalRecord
from dtks_verification.domain.integrity import RegisterFacts
from dtks_verification.domain.names import name_key


async def register_institutions(
    conn: asyncpg.Connection, snapshots: Sequence[tuple[str, Institution]]
) -> None:
    """Registered or changed institutions (#19), each once: their snapshots replace what we knew, and
    their current residents (not discharged, as open proposals count them) are theirs in the register."""
    if not snapshots:
        return
    ids = [institution_id for institution_id, _ in snapshots]
    if len(set(ids)) != len(ids):
        raise ValueError("register_institutions: each institution may appear once; split the batch")
    await conn.execute(
        """INSERT INTO registered_institutions (institution_id, active)
           SELECT i, true FROM unnest($1::text[]) AS x(i)
           ON CONFLICT (institution_id) DO UPDATE SET active = true""",
        ids,
    )
    await conn.execute("DELETE FROM registered_residents WHERE institution_id = ANY($1::text[])", ids)
    # A NIK met twice (a resident moving between two institutions of the batch) ends where it was
    # last seen, as if the snapshots had been applied one after another.
    residents: dict[str, str] = {}
    for institution_id, institution in snapshots:
        for resident in institution.residents:
            if resident.discharged_on is None:
                residents[resident.nik] = institution_id
    if residents:
        await conn.execute(
            """INSERT INTO registered_residents (nik, institution_id)
               SELECT n, i FROM unnest($1::text[], $2::text[]) AS x(n, i)
               ON CONFLICT (nik) DO UPDATE SET institution_id = EXCLUDED.institution_id""",
            list(residents),
            list(residents.values()),
        )


async def close_institutions(conn: asyncpg.Connection, institution_ids: Sequence[str]) -> None:
    """Closed institutions stay known (a change of one is refused as closed, not as unknown); their
    residents are no longer anyone's in the register."""
    if not institution_ids:
        return
    ids = list(institution_ids)
    await conn.execute(
        """INSERT INTO registered_institutions (institution_id, active)
           SELECT i, false FROM unnest($1::text[]) AS x(i)
           ON CONFLICT (institution_id) DO UPDATE SET active = false""",
        ids,
    )
    await conn.execute("DELETE FROM registered_residents WHERE institution_id = ANY($1::text[])", ids)


async def register_households(conn: asyncpg.Connection, snapshots: Sequence[tuple[str, Household]]) -> None:
    """Registered or corrected households (each once): their snapshots replace what we knew."""
    if not snapshots:
        return
    ids = [household_id for household_id, _ in snapshots]
    if len(set(ids)) != len(ids):
        raise ValueError("register_households: each household may appear once; split the batch")
    # The village and the record too: a re-verification round's prelist is drawn from them, and a
    # changed household's correction is pre-filled from the record (see domain.reverification).
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active, village_code, snapshot)
           SELECT h, k, true, v, s::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(h, k, v, s)
           ON CONFLICT (household_id) DO UPDATE SET kk_number = EXCLUDED.kk_number, active = true,
               village_code = EXCLUDED.village_code, snapshot = EXCLUDED.snapshot""",
        ids,
        [household.kk_number for _, household in snapshots],
        [household.village_code for _, household in snapshots],
        [household.model_dump_json() for _, household in snapshots],
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = ANY($1::text[])", ids)
    # A NIK met twice (a person moving between two households of the batch) ends where it was
    # last seen, as if the snapshots had been applied one after another.
    people: dict[str, tuple[str, str, dt.date, str]] = {}
    for household_id, household in snapshots:
        district = household.village_code[:8]
        for m in household.members:
            people[m.nik] = (household_id, name_key(m.name), m.birth_date, district)
    rows = list(people.items())
    await conn.execute(
        """INSERT INTO registered_people (nik, household_id, name_key, birth_date, district)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[])
           ON CONFLICT (nik) DO UPDATE SET household_id = EXCLUDED.household_id,
               name_key = EXCLUDED.name_key, birth_date = EXCLUDED.birth_date, district = EXCLUDED.district""",
        [nik for nik, _ in rows],
        [r[0] for _, r in rows],
        [r[1] for _, r in rows],
        [r[2] for _, r in rows],
        [r[3] for _, r in rows],
    )


async def deactivate_households(conn: asyncpg.Connection, households: Sequence[tuple[str, str]]) -> None:
    """Households (id, KK number) leaving the register: their people no longer count as registered."""
    if not households:
        return
    ids = [household_id for household_id, _ in households]
    if len(set(ids)) != len(ids):
        raise ValueError("deactivate_households: each household may appear once; split the batch")
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active)
           SELECT h, k, false FROM unnest($1::text[], $2::text[]) AS x(h, k)
           ON CONFLICT (household_id) DO UPDATE SET active = false""",
        ids,
        [kk for _, kk in households],
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = ANY($1::text[])", ids)


async def set_deciles(conn: asyncpg.Connection, deciles: Sequence[tuple[str, int]]) -> None:
    """The central welfare deciles (each household once): a decile set to another value than the one
    held raises the household's `decile_changed` flag, which a round may select on."""
    if not deciles:
        return
    ids, values = [h for h, _ in deciles], [d for _, d in deciles]
    if len(set(ids)) != len(ids):
        raise ValueError("set_deciles: each household may appear once; split the batch")
    await conn.execute(
        """INSERT INTO household_flags (household_id, flag)
           SELECT h.household_id, 'decile_changed'
           FROM registered_households h JOIN unnest($1::text[], $2::int[]) AS x(h, d) ON x.h = h.household_id
           WHERE h.decile IS NOT NULL AND h.decile <> x.d
           ON CONFLICT (household_id, flag) DO UPDATE SET raised_at = now()""",
        ids,
        values,
    )
    await conn.execute(
        """UPDATE registered_households h SET decile = x.d
           FROM unnest($1::text[], $2::int[]) AS x(h, d) WHERE h.household_id = x.h""",
        ids,
        values,
    )


async def register_facts(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> dict[str, RegisterFacts]:
    """What the read models say about each proposal's people, card and target, in four queries."""
    niks = sorted({m.nik for r in records if r.content.household for m in r.content.household.members})
    nik_list = text_array(niks)
    kks = sorted({r.content.household.kk_number for r in records if r.content.household})
    targets = sorted({r.content.target_household_id for r in records if r.content.target_household_id})
    people = {
        r["nik"]: r["household_id"]
        for r in await conn.fetch(
            f"SELECT nik, household_id FROM registered_people WHERE nik {in_literal(1)}",
            nik_list,
        )
    }
    cards = {
        r["kk_number"]: r["household_id"]
        for r in await conn.fetch(
            "SELECT kk_number, household_id FROM registered_households WHERE active AND kk_number = ANY($1::text[])",
            kks,
        )
    }
    households = {
        r["household_id"]: r["active"]
        for r in await conn.fetch(
            "SELECT household_id, active FROM registered_households WHERE household_id = ANY($1::text[])",
            targets,
        )
    }
    claims: dict[str, list[tuple[int, str]]] = {}
    for r in await conn.fetch(
        f"SELECT nik, proposal_id, seq FROM open_niks WHERE nik {in_literal(1)}", nik_list
    ):
        claims.setdefault(r["nik"], []).append((r["seq"], r["proposal_id"]))
    namesakes = await _namesakes(conn, records)
    elsewhere, institutions = await _institution_facts(conn, records)
    homes, residences = await _living_in_both(conn, records)
    facts: dict[str, RegisterFacts] = {}
    for record in records:
        own = record.content.household
        own_niks = [m.nik for m in own.members] if own else []
        earlier = {}
        for nik in own_niks:
            others = sorted(
                c for c in claims.get(nik, ()) if c[0] < record.seq and c[1] != record.state.proposal_id
            )
            if others:
                earlier[nik] = others[0][1]
        facts[record.state.proposal_id] = RegisterFacts(
            registered_niks={n: people[n] for n in own_niks if n in people},
            registered_kks={own.kk_number: cards[own.kk_number]} if own and own.kk_number in cards else {},
            households=households,
            earlier_open_proposals=earlier,
            namesakes=namesakes.get(record.state.proposal_id, {}),
            residents_elsewhere=elsewhere.get(record.state.proposal_id, {}),
            institutions=institutions,
            resident_households={n: homes[n] for n in own_residents(record) if n in homes},
            member_institutions={n: residences[n] for n in own_niks if n in residences},
        )
    return facts


def own_residents(record: ProposalRecord) -> list[str]:
    institution = record.content.institution
    return [r.nik for r in institution.residents] if institution is not None else []


async def _living_in_both(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> tuple[dict[str, str], dict[str, str]]:
    """Institution residents who are members of a registered (active) household, NIK -> household;
    and household members who are current residents of a registered (active) institution, NIK ->
    institution: a person counted both in a home and in a family could draw aid twice (#19)."""
    residents = sorted({n for r in records for n in own_residents(r)})
    members = sorted({m.nik for r in records if r.content.household for m in r.content.household.members})
    homes: dict[str, str] = {}
    if residents:
        homes = {
            r["nik"]: r["household_id"]
            for r in await conn.fetch(
                "SELECT nik, household_id FROM registered_people WHERE nik = ANY($1::text[])", residents
            )
        }
    residences: dict[str, str] = {}
    if members:
        residences = {
            r["nik"]: r["institution_id"]
            for r in await conn.fetch(
                """SELECT p.nik, p.institution_id FROM registered_residents p
                   JOIN registered_institutions i USING (institution_id)
                   WHERE i.active AND p.nik = ANY($1::text[])""",
                members,
            )
        }
    return homes, residences


async def _institution_facts(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> tuple[dict[str, dict[str, str]], dict[str, bool]]:
    """For each institution proposal, its residents' other institution (registered, or an earlier
    open proposal of another); and the targeted institutions' standing in the register."""
    subjects = [r for r in records if r.content.institution is not None or r.content.target_institution_id]
    if not subjects:
        return {}, {}
    niks = sorted({x.nik for r in subjects if r.content.institution for x in r.content.institution.residents})
    targets = sorted({r.content.target_institution_id for r in subjects if r.content.target_institution_id})
    registered = {
        r["nik"]: r["institution_id"]
        for r in await conn.fetch(
            """SELECT p.nik, p.institution_id FROM registered_residents p
               JOIN registered_institutions i USING (institution_id)
               WHERE i.active AND p.nik = ANY($1::text[])""",
            niks,
        )
    }
    claims: dict[str, list[tuple[int, str]]] = {}
    for r in await conn.fetch(
        "SELECT nik, proposal_id, seq FROM open_residents WHERE nik = ANY($1::text[])", niks
    ):
        claims.setdefault(r["nik"], []).append((r["seq"], r["proposal_id"]))
    institutions = {
        r["institution_id"]: r["active"]
        for r in await conn.fetch(
            "SELECT institution_id, active FROM registered_institutions WHERE institution_id = ANY($1::text[])",
            targets,
        )
    }
    out: dict[str, dict[str, str]] = {}
    for record in subjects:
        institution = record.content.institution
        if institution is None:
            continue
        own_id = record.content.target_institution_id
        found: dict[str, str] = {}
        for resident in institution.residents:
            holder = registered.get(resident.nik)
            if holder is not None and holder != own_id:
                found[resident.nik] = f"registered institution {holder}"
                continue
            earlier = sorted(
                c
                for c in claims.get(resident.nik, ())
                if c[0] < record.seq and c[1] != record.state.proposal_id
            )
            if earlier:
                found[resident.nik] = f"proposal {earlier[0][1]}"
        out[record.state.proposal_id] = found
    return out, institutions


async def _namesakes(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> dict[str, dict[str, str]]:
    pids, niks, districts, keys, births = [], [], [], [], []
    for record in records:
        household = record.content.household
        if household is None:
            continue
        for m in household.members:
            pids.append(record.state.proposal_id)
            niks.append(m.nik)
            districts.append(household.village_code[:8])
            keys.append(name_key(m.name))
            births.append(m.birth_date)
    if not pids:
        return {}
    rows = await conn.fetch(
        f"""SELECT x.pid, x.nik, p.nik AS namesake
            FROM {unnest_literals("text", "text", "text", "text", "date")} AS x(pid, nik, d, k, b)
           JOIN registered_people p ON p.district = x.d AND p.name_key = x.k AND p.birth_date = x.b
           WHERE p.nik <> x.nik""",
        text_array(pids),
        text_array(niks),
        text_array(districts),
        text_array(keys),
        plain_array(births),
    )
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r["pid"], {})[r["nik"]] = r["namesake"]
    return out
