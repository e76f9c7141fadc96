"""Re-verification rounds: open one (its prelist drawn in the same transaction), record a visit, close
it with its recap. Each is a domain event on the round's or the visit's own stream.

Why verification owns rounds: a round is field work on registered households, and field visits, their
photos and the officers who record them already live here; the service keeps its own copy of the
register from the registry's events (now with each household's village and record), so a prelist is
drawn from its own tables. The registry stays the register of record (only decrees change it) and the
proposal service stays the owner of proposals: a visit that calls for a correction or deactivation is
an event naming the proposal, which the proposal service enters through its one entry path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.events.reverification import (
    OutcomeCounts,
    ReverificationRoundClosed,
    ReverificationRoundOpened,
    ReverificationVisitRecorded,
    RoundSelection,
    VisitOutcome,
)
from dtks_contracts.regions import contains
from dtks_runtime.auth import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, ConcurrencyConflict, NewEvent
from dtks_verification.adapters import photos, prelists
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain import reverification as rules
from dtks_verification.domain.photo_evidence import photo_findings


def round_not_found(round_id: str) -> DomainError:
    return DomainError("round_not_found", f"There is no re-verification round {round_id} in your region.")


def round_overlaps(region: str, open_round: prelists.Round | None) -> DomainError:
    """Two open rounds over the same households would send two officers to one door and make two
    proposals of one household's change: the second is refused, naming the first."""
    if open_round is None:  # the other round closed between the refusal and this look
        return DomainError(
            "round_overlaps",
            f"Another round over {region} was opened at the same moment; reload the rounds and try again.",
        )
    return DomainError(
        "round_overlaps",
        f"Round {open_round.round_id} over {open_round.region} ({open_round.period_start} to "
        f"{open_round.period_end}) is still open and covers households of {region} in this period; "
        "close it first, or choose a region or period it does not cover.",
        extra={
            "open_round": {
                "round_id": open_round.round_id,
                "region": open_round.region,
                "period_start": open_round.period_start.isoformat(),
                "period_end": open_round.period_end.isoformat(),
            }
        },
    )


def _causation(principal: Principal, correlation_id: str | None) -> Causation:
    actor = principal.as_actor()
    return Causation(actor=actor, correlation_id=correlation_id) if correlation_id else Causation(actor=actor)


@dataclass(frozen=True)
class OpenRound:
    region: str
    period_start: dt.date
    period_end: dt.date
    selection: RoundSelection
    size_limit: int | None = None


async def open_round(
    deps: VerificationDeps, principal: Principal, command: OpenRound, correlation_id: str | None = None
) -> dict[str, Any]:
    rules.ensure_may_open(principal.role, principal.region, command.region)
    rules.ensure_period(command.period_start, command.period_end)
    try:
        return await _open_round(deps, principal, command, str(uuid.uuid4()), correlation_id)
    except asyncpg.ExclusionViolationError:
        # Another opening over some of the same households committed first (the table's constraint
        # open_rounds_do_not_overlap): name it, as the check before the draw would have.
        async with deps.connection() as conn:
            winner = await prelists.overlapping_open_round(
                conn, command.region, command.period_start, command.period_end
            )
        raise round_overlaps(command.region, winner) from None


async def _open_round(
    deps: VerificationDeps,
    principal: Principal,
    command: OpenRound,
    round_id: str,
    correlation_id: str | None,
) -> dict[str, Any]:
    actor = principal.as_actor()
    async with deps.unit_of_work() as uow:
        already = await prelists.overlapping_open_round(
            uow.conn, command.region, command.period_start, command.period_end
        )
        if already is not None:
            raise round_overlaps(command.region, already)
        households, villages = await prelists.open_round(
            uow.conn,
            round_id=round_id,
            region=command.region,
            period_start=command.period_start,
            period_end=command.period_end,
            selection=command.selection,
            size_limit=command.size_limit,
            opened_by=actor,
        )
        event = ReverificationRoundOpened(
            round_id=round_id,
            region=command.region,
            period_start=command.period_start,
            period_end=command.period_end,
            selection=command.selection,
            size_limit=command.size_limit,
            households=households,
            villages=villages,
            opened_by=actor,
        )
        await uow.append(
            aggregate_type=ReverificationRoundOpened.aggregate_type,
            aggregate_id=round_id,
            expected_version=0,
            events=[NewEvent.of(event)],
            causation=_causation(principal, correlation_id),
        )
        found = await prelists.load_round(uow.conn, round_id)
    assert found is not None
    return {**found.as_json(), "villages": villages}


async def round_in_scope(deps: VerificationDeps, principal: Principal, round_id: str) -> prelists.Round:
    """The round, if the reader may see it: theirs when its region and theirs overlap (a district
    verifier reads the district's part of a regency's round)."""
    if principal.role not in rules.READERS:
        raise DomainError("role_not_allowed", "Your role does not take part in re-verification rounds.")
    async with deps.connection() as conn:
        found = await prelists.load_round(conn, round_id)
    if found is None or not (
        contains(principal.region, found.region) or contains(found.region, principal.region)
    ):
        raise round_not_found(round_id)
    return found


async def rounds_in_scope(
    deps: VerificationDeps, principal: Principal, *, after: str | None, limit: int
) -> dict[str, Any]:
    """The rounds a reader may see (those whose region and theirs overlap), newest first, a page at
    a time: an officer finds the round to work without knowing its number."""
    if principal.role not in rules.READERS:
        raise DomainError("role_not_allowed", "Your role does not take part in re-verification rounds.")
    async with deps.connection() as conn:
        found = await prelists.rounds_overlapping(conn, principal.region, after=after, limit=limit)
    return {
        "items": [r.as_json() for r in found],
        "next_after": found[-1].round_id if len(found) == limit else None,
    }


def reading_region(principal: Principal, found: prelists.Round, asked: str | None) -> str:
    """The part of the round a reader asked for (default: all of it they may see)."""
    mine = principal.region if contains(found.region, principal.region) else found.region
    region = asked or mine
    if not contains(mine, region):
        raise DomainError("outside_region", f"Region {region} is outside your part {mine} of the round.")
    return region


def _fingerprint(household_id: str, outcome: VisitOutcome, visit: dict[str, Any], changes: Any) -> str:
    body = json.dumps([household_id, outcome.value, visit, changes], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class RecordVisit:
    household_id: str
    outcome: VisitOutcome
    visit: dict[str, Any]  # officer, visit_date, latitude, longitude, photos, as JSON
    note: str | None = None
    changes: dict[str, Any] | None = None


async def record_visit(
    deps: VerificationDeps,
    principal: Principal,
    round_id: str,
    command: RecordVisit,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Record one household's visit. The same visit sent again (a lost answer) answers as it did;
    another visit of a household already visited in the round is refused (`already_visited`).

    Over 60 lines because the visit's replay check, its photos' findings, the prelist row and the
    event run in one unit of work, each failure answering its own code; the outcome rules themselves
    are pure (domain/reverification)."""
    if principal.role not in rules.VISITORS:
        raise DomainError(
            "role_not_allowed", "Round visits are recorded by district verifiers and regency operators."
        )
    visit = {**command.visit, **({"note": command.note} if command.note else {})}
    fingerprint = _fingerprint(command.household_id, command.outcome, visit, command.changes)
    actor = principal.as_actor()
    async with deps.unit_of_work() as uow:
        found = await prelists.load_round(uow.conn, round_id)
        if found is None:
            raise round_not_found(round_id)
        entry = await prelists.entry_for_visit(uow.conn, round_id, command.household_id)
        if entry is None:
            raise DomainError(
                "household_not_on_prelist",
                f"Household {command.household_id} is not on round {round_id}'s prelist; check the id.",
            )
        rules.ensure_may_visit(principal.role, principal.region, entry.village_code)
        if entry.outcome is not None:
            if entry.fingerprint == fingerprint:
                return _answer(
                    round_id, command.household_id, entry.outcome, entry.proposal_id, entry.findings
                )
            raise DomainError(
                "already_visited",
                f"Household {command.household_id} was already recorded as {entry.outcome} in this round.",
                extra={"outcome": entry.outcome, "proposal_id": entry.proposal_id},
            )
        if not found.is_open:
            raise DomainError("round_closed", f"Round {round_id} is closed; its visits can no longer change.")
        visit_date = dt.date.fromisoformat(str(visit["visit_date"]))
        rules.ensure_visit_in_period(visit_date, found.period_start, found.period_end)
        proposed = rules.proposed(
            command.outcome,
            round_id=round_id,
            household_id=command.household_id,
            snapshot=entry.snapshot,
            changes=command.changes,
            visit=visit,
            note=command.note,
        )
        if entry.snapshot is None and proposed.proposal_id is not None:
            raise DomainError(
                "household_not_registered",
                f"Household {command.household_id} has left the register since the round opened.",
            )
        hashes = [p["sha256"] for p in visit.get("photos", [])]
        known = await photos.metadata_of(uow.conn, hashes)
        findings = [
            f
            for h in dict.fromkeys(hashes)
            for f in photo_findings(
                h, known.get(h), visit_date, visit["latitude"], visit["longitude"], deps.evidence_policy
            )
        ]
        await photos.name_in_village(uow.conn, list(dict.fromkeys(hashes)), entry.village_code)
        await prelists.record_visit(
            uow.conn,
            round_id=round_id,
            household_id=command.household_id,
            outcome=command.outcome,
            visit=visit,
            findings=findings,
            fingerprint=fingerprint,
            proposal_id=proposed.proposal_id,
            recorded_by=actor,
            visit_date=visit_date,
        )
        event = ReverificationVisitRecorded(
            visit_key=rules.visit_key(round_id, command.household_id),
            round_id=round_id,
            household_id=command.household_id,
            village_code=entry.village_code,
            outcome=command.outcome,
            officer=visit["officer"],
            visit_date=visit_date,
            latitude=visit["latitude"],
            longitude=visit["longitude"],
            photos=tuple(visit.get("photos", ())),
            note=command.note,
            proposal_id=proposed.proposal_id,
            household=proposed.household,
            deactivation_reason=proposed.deactivation_reason,
            evidence_note=proposed.evidence_note,
            recorded_by=actor,
        )
        await uow.append(
            aggregate_type=ReverificationVisitRecorded.aggregate_type,
            aggregate_id=event.visit_key,
            expected_version=0,
            events=[NewEvent.of(event)],
            causation=_causation(principal, correlation_id),
        )
    return _answer(round_id, command.household_id, command.outcome.value, proposed.proposal_id, findings)


def _answer(
    round_id: str, household_id: str, outcome: str, proposal_id: str | None, findings: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "round_id": round_id,
        "household_id": household_id,
        "outcome": outcome,
        "proposal_id": proposal_id,
        "findings": findings,
    }


async def record_visits(
    deps: VerificationDeps,
    principal: Principal,
    round_id: str,
    commands: list[RecordVisit],
    correlation_id: str | None = None,
) -> list[dict[str, Any] | DomainError]:
    """Each visit on its own (a refusal refuses that one only), in order."""
    results: list[dict[str, Any] | DomainError] = []
    for command in commands:
        try:
            results.append(await record_visit(deps, principal, round_id, command, correlation_id))
        except DomainError as refused:
            results.append(refused)
        except ConcurrencyConflict:
            results.append(
                DomainError("already_visited", f"Household {command.household_id} was just recorded.")
            )
        await asyncio.sleep(0)
    return results


async def close_round(
    deps: VerificationDeps, principal: Principal, round_id: str, correlation_id: str | None = None
) -> dict[str, Any]:
    async with deps.unit_of_work() as uow:
        found = await prelists.load_round(uow.conn, round_id, for_update=True)
        if found is None or not contains(principal.region, found.region):
            raise round_not_found(round_id)
        rules.ensure_may_open(principal.role, principal.region, found.region)
        if not found.is_open:
            raise DomainError("round_closed", f"Round {round_id} is already closed.")
        counts = await prelists.totals(uow.conn, round_id)
        by_district = await prelists.progress(uow.conn, round_id, "district", found.region)
        recap = {**counts, "districts": by_district}
        actor = principal.as_actor()
        event = ReverificationRoundClosed(
            round_id=round_id,
            region=found.region,
            households=counts["households"],
            recap=OutcomeCounts(**{k: counts[k] for k in OutcomeCounts.model_fields}),
            proposals=counts["proposals"],
            closed_by=actor,
        )
        await uow.append(
            aggregate_type=ReverificationRoundClosed.aggregate_type,
            aggregate_id=round_id,
            expected_version=found.stream_version,
            events=[NewEvent.of(event)],
            causation=_causation(principal, correlation_id),
        )
        await prelists.close_round(uow.conn, round_id, actor, recap, found.stream_version + 1)
        closed = await prelists.load_round(uow.conn, round_id)
    assert closed is not None
    return closed.as_json()
