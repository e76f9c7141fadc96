"""Audit replays: rebuild the register from the event log into fresh tables, and check every decree.

A rebuild reads dtks.verification.events and dtks.registry.events from offset zero into a new schema
of the registry's database (the live tables are never touched) and reports the register's hash and
counts, now or as of a decree. The verification does the rebuild, then recomputes the register as
of every decree and compares it with the hash that decree recorded; it also recomputes the live
tables' hashes from their stored snapshots, so a row altered in the database shows up, with the
household ids that differ from the replay. The welfare deciles in force (set centrally, outside any
decree's hash) are compared between the replay and the live table the same way.

Hashes cover the snapshots only, and the service answers from other columns too (members' names
and NIKs, households' programs and village codes, the decree rows, the audit trail). So the
verification also replays the audit topics and compares every table the service answers from,
column by column, with the replay (:mod:`dtks_registry.adapters.table_comparison`), naming each
differing row's table and household. Events recorded while the verification runs show up as
differences, so verify when nothing is being loaded.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_registry.adapters import audit_log, register
from dtks_registry.adapters.projection import (
    PROJECTION_EVENT_TYPES,
    PROJECTION_TOPICS,
    apply_projection_events,
    decode_projection_event,
)
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.adapters.table_comparison import by_household, compare_tables
from dtks_runtime.errors import DomainError
from dtks_runtime.provenance import ProvenanceCheck
from dtks_runtime.replay import fresh_schema_name, make_durable, replay_into_schema

# Indexes the replay's writers never read through (they write and look up by primary keys), built
# once after the events are applied: the readers of the rebuilt tables (the hashes as of each
# decree, an inspection of a kept schema) have them as the live tables do.
PROJECTION_DEFERRED_INDEXES = (
    "candidates_household",
    "candidates_accepted",
    "household_changes_proposal",
    "household_changes_decree",
    "household_changes_village",
    "households_kk",
    "households_village_page",
    "members_nik",
    "welfare_deciles_decile",
)
AUDIT_TRAIL_DEFERRED_INDEXES = (
    "audit_events_proposal",
    "audit_events_household",
    "audit_events_decree",
    "audit_events_related",
    "audit_events_window_regency",
)


@dataclass(frozen=True)
class ReplaySource:
    database_url: str  # the registry's own database; the replay gets a fresh schema in it
    kafka_bootstrap: str
    topic_prefix: str
    workers: int = 1  # processes reading disjoint partitions (see replay_into_schema)
    # Who may have written each topic: records not signed by their topic's owner are passed over and
    # listed, as the live consumers dead-letter them (None: take whatever is in the log).
    provenance: ProvenanceCheck | None = None


async def _replay(source: ReplaySource) -> tuple[str, dict[str, Any]]:
    schema = fresh_schema_name("registry_replay")
    try:
        report = await replay_into_schema(
            database_url=source.database_url,
            schema=schema,
            migrations=[("registry", MIGRATIONS)],
            kafka_bootstrap=source.kafka_bootstrap,
            topics=[f"{source.topic_prefix}{t}" for t in PROJECTION_TOPICS],
            handler=apply_projection_events,
            decode=decode_projection_event,
            workers=source.workers,
            event_types=PROJECTION_EVENT_TYPES,
            deferred_indexes=PROJECTION_DEFERRED_INDEXES,
            provenance=source.provenance,
        )
    except Exception:
        # A replay that failed (a broker gone, say) leaves no scratch schema behind; if the database
        # is what failed, the drop fails too, and the replay's own error is the one to report.
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await _drop(source, schema)
        raise
    return schema, {
        "schema": schema,
        "events_read": report.events_read,
        "events_applied": report.events_applied,
        # Records the live consumers dead-lettered as undecodable: passed over here too, and named.
        "undecodable_records": [
            {"topic": topic, "partition": partition, "offset": offset}
            for topic, partition, offset in report.undecodable
        ],
        # Records not from their topic's owner (forged into the log): not part of the register.
        "refused_records": [
            {"topic": topic, "partition": partition, "offset": offset, "reason": reason}
            for topic, partition, offset, reason in report.refused
        ],
        "seconds": round(report.seconds, 3),
        "events_per_second": round(report.events_read / report.seconds, 1) if report.seconds else None,
    }


async def _replay_audit_trail(source: ReplaySource, schema: str) -> int:
    """The audit trail (every service's events) into ``schema``'s audit_events, as the live
    consumer records it; returns the events read."""
    report = await replay_into_schema(
        database_url=source.database_url,
        schema=schema,
        migrations=[("registry", MIGRATIONS)],
        kafka_bootstrap=source.kafka_bootstrap,
        topics=[f"{source.topic_prefix}{t}" for t in audit_log.AUDIT_TOPICS],
        handler=audit_log.record,
        # Read as the live audit consumer reads them; keyed by event id (a second copy changes
        # nothing), so the replay needs no inbox: one insert per event fewer.
        decode=EventEnvelope.from_bytes,
        workers=source.workers,
        deferred_indexes=AUDIT_TRAIL_DEFERRED_INDEXES,
        # As the live audit consumer: a record its topic's owner did not sign is not history.
        provenance=source.provenance,
    )
    return report.events_read


async def _in_schema(source: ReplaySource, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(source.database_url, server_settings={"search_path": f'"{schema}"'})


async def _drop(source: ReplaySource, schema: str) -> None:
    conn = await asyncpg.connect(source.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def rebuild(
    source: ReplaySource, *, as_of_decree: str | None = None, keep: bool = False
) -> dict[str, Any]:
    """Rebuild into fresh tables; report hash and counts of the register now or as of a decree."""
    schema, report = await _replay(source)
    kept = False  # only a rebuild that completed is kept: one that failed is nobody's to inspect
    try:
        conn = await _in_schema(source, schema)
        try:
            if as_of_decree is not None:
                if not await conn.fetchval(
                    "SELECT 1 FROM determinations WHERE decree_number = $1", as_of_decree
                ):
                    raise DomainError(
                        "decree_not_found",
                        f"Decree {as_of_decree} is not in the event log; list decrees with GET /determinations/...",
                    )
                summary = await register.as_of_summary(conn, as_of_decree)
            else:
                summary = await register.current_summary(conn)
            decrees = await conn.fetchval("SELECT count(*) FROM determinations")
            candidates = await conn.fetchval("SELECT count(*) FROM candidates")
            deciles = await conn.fetchval("SELECT count(*) FROM welfare_deciles")
            institutions = await conn.fetchval("SELECT count(*) FROM institutions WHERE open")
        finally:
            await conn.close()
        if keep:
            await make_durable(source.database_url, schema)
            kept = True
    finally:
        if not kept:
            await _drop(source, schema)
    return {
        **report,
        "kept": keep,
        "as_of_decree": as_of_decree,
        "register_hash": summary.register_hash,
        "flat_register_hash": summary.flat_hash,  # what decrees issued before Merkle roots recorded
        "counts": {"households": summary.households, "people": summary.people},
        # The institutions section of the register: those in the hash (now or as of the decree), and
        # those open now in the rebuilt tables.
        "institutions": {"in_register_hash": summary.institutions, "open_now": institutions},
        # The assistance determined by decrees (#19): the leaves of the hash's assistance section.
        "assistance": {"in_register_hash": summary.assistance},
        "decrees": decrees,
        "candidates": candidates,
        "welfare_deciles": deciles,
    }


async def verify(source: ReplaySource, live: asyncpg.Connection) -> dict[str, Any]:
    """Replay every decree and compare with its recorded hash; check the live tables against both.

    Over 60 lines because every comparison reads the replay's temporary schema, which must be dropped
    whatever fails: one try/finally holds them all."""
    started = time.monotonic()
    schema, report = await _replay(source)
    # Where the whole check's time went, step by step (seconds from the step before).
    steps: dict[str, float] = {"replay": time.monotonic() - started}

    def step(name: str) -> None:
        steps[name] = time.monotonic() - started - sum(steps.values())

    try:
        # The database's clock before the audit replay reads the log: the live audit rows recorded
        # from then on may hold events it did not read (a running system goes on producing them).
        log_read_at = await live.fetchval("SELECT clock_timestamp()")
        report["audit_events_read"] = await _replay_audit_trail(source, schema)
        step("audit_trail_replay")
        conn = await _in_schema(source, schema)
        try:
            # Every live household snapshot against its stored digest, each parsed once; the live
            # summaries below then give what recomputing every digest would (CheckedDigests).
            checked = await register.check_digests(live)
            step("live_digests_checked")
            # Each decree against the hash it recorded: the flat hash (version 1) or the Merkle root.
            decrees = await conn.fetch(
                """SELECT decree_number, register_hash, payload->>'hash_algorithm' AS algorithm
                   FROM determinations ORDER BY period_start"""
            )
            results = []
            for d in decrees:
                # The replay's digests were computed by this replay from the log's households (the
                # projection's writer); recomputing them from its own stored snapshots checked only
                # its storage, and parsed every household of every decree once more. The live side's
                # were checked against their snapshots above: there a stored digest may have been
                # altered beside its snapshot.
                replayed = await register.as_of_summary(conn, d["decree_number"])
                live_as_of = await register.as_of_summary(live, d["decree_number"], checked=checked)
                replayed_hash = replayed.hash_for(d["algorithm"])
                live_hash = live_as_of.hash_for(d["algorithm"])
                results.append(
                    {
                        "decree_number": d["decree_number"],
                        "hash_algorithm": d["algorithm"].partition(":")[0],
                        "recorded_hash": d["register_hash"],
                        "replayed_hash": replayed_hash,
                        "live_hash": live_hash,
                        "matches": replayed_hash == d["register_hash"] == live_hash,
                    }
                )
            live_summary = await register.current_summary(live, checked=checked)
            live_now = live_summary.hash_for(decrees[-1]["algorithm"] if decrees else "")
            latest = decrees[-1]["register_hash"] if decrees else None
            altered: list[str] = []
            if latest is not None and live_now != latest:
                replayed_digests = await register.digests(conn, decrees[-1]["decree_number"])
                live_digests = await register.digests(live, None)
                altered = sorted(
                    h
                    for h in replayed_digests.keys() | live_digests.keys()
                    if replayed_digests.get(h) != live_digests.get(h)
                )
            step("decree_hashes")
            deciles = await _compare_deciles(conn, live)
            tables = await compare_tables(live, schema, log_read_at=log_read_at)
            step("tables_compared")
        finally:
            await conn.close()
    finally:
        await _drop(source, schema)
    live_report = {
        "register_hash": live_now,
        "matches_latest_decree": latest is None or live_now == latest,
        "altered_households": altered,
    }
    return {
        **report,
        "ok": all(r["matches"] for r in results)
        and live_report["matches_latest_decree"]
        and deciles["matches"]
        and all(t["matches"] for t in tables.values()),
        "decrees": results,
        "live_register": live_report,
        "welfare_deciles": deciles,
        # Every table the service answers from against the replay: each differing row with its key
        # and household, and per household the tables that differ.
        "tables": tables,
        "altered": by_household(tables),
        "step_seconds": {name: round(seconds, 3) for name, seconds in steps.items()},
    }


async def _compare_deciles(replayed: asyncpg.Connection, live: asyncpg.Connection) -> dict[str, Any]:
    (replayed_digest, households), (live_digest, _) = (
        await register.deciles_digest(replayed),
        await register.deciles_digest(live),
    )
    differing: list[str] = []
    if replayed_digest != live_digest:
        ours, theirs = await register.decile_lines(replayed), await register.decile_lines(live)
        differing = sorted(h for h in ours.keys() | theirs.keys() if ours.get(h) != theirs.get(h))
    return {
        "households": households,
        "matches": replayed_digest == live_digest,
        "differing_households": differing,
    }


__all__ = ["ReplaySource", "rebuild", "verify"]
