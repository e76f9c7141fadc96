"""The verification service's commands: integrity checks, tier decisions, ratifications, visits.

Each command loads the proposal's standing, lets the pure domain decide, and appends the events
with the new standing in one transaction (the runtime relays them). Civil-registry look-ups of
commands happen before the transaction, never inside it, so an unreachable registry never holds a
lock; when it is unreachable the check is queued in `pending_checks` and the worker in `checks.py`
resumes it. (Intake's look-up runs inside its batch transaction, holding only that batch's own new
rows, with a single attempt; see `consumer.Intake`.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.verification import (
    AcceptedByMinistry,
    BatchRatified,
    Finding,
    IntegrityChecked,
    ReturnedAtTier,
    VerifiedAtTier,
)
from dtks_contracts.household import FieldVisit, Household
from dtks_contracts.regions import contains
from dtks_contracts.timestamps import utc_now
from dtks_contracts.vocabulary import IntegrityStage, ReasonCode, Role, Tier
from dtks_runtime.auth import Principal
from dtks_runtime.event_store import Causation, EventStore, NewEvent, StreamAppend
from dtks_verification.adapters import (
    field_visits,
    pending_checks,
    proposals,
    ratifications,
    register,
    rounds,
)
from dtks_verification.adapters.civil_registry import CivilRegistryClient, CivilRegistryUnavailable
from dtks_verification.domain.integrity import CivilPerson, RegisterFacts, check_proposal, people_to_look_up
from dtks_verification.domain.workflow import (
    API_TIER_OF,
    Decision,
    Refusal,
    Status,
    VerificationState,
    authorize_at_tier,
    decide,
    ensure_awaits,
    entry_checked,
    ministry_checked,
    parse_tier,
)

_BATCH_NAMESPACE = uuid.UUID("6f1d8a52-3f0b-4c8e-9a41-2b7c5d9e0f13")


@dataclass(frozen=True)
class DecisionCommand:
    proposal_id: str
    tier: str
    decision: Decision
    reasons: tuple[ReasonCode, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class CivilAnswer:
    """What the civil registry said about the people of a proposal's round."""

    round: int
    people: Mapping[str, CivilPerson | None]


def outcome(state: VerificationState) -> dict[str, Any]:
    """How a proposal stands, as the API reports it."""
    return {
        "proposal_id": state.proposal_id,
        "round": state.round,
        "status": state.status.value,
        "tier": API_TIER_OF[state.tier]
        if state.tier is not None and state.status is Status.IN_TIER
        else None,
    }


def with_latest_visit(household: Household, visits: Sequence[Mapping[str, Any]]) -> Household:
    """The accepted household carries the latest field visit as its evidence."""
    if not visits:
        return household
    v = visits[-1]
    photos = {p["subject"]: f"{p['location']}#sha256={p['sha256']}" for p in v.get("photos", ())}
    visit = FieldVisit(
        visit_date=dt.date.fromisoformat(v["visit_date"]),
        officer=v["officer"],
        roof_photo_ref=photos.get("roof"),
        floor_photo_ref=photos.get("floor"),
        wall_photo_ref=photos.get("walls"),
        head_photo_ref=photos.get("head"),
        latitude=v.get("latitude"),
        longitude=v.get("longitude"),
    )
    return household.model_copy(update={"field_visit": visit})


class Verification:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, civil_registry: CivilRegistryClient) -> None:
        self.pool = pool
        self.store = store
        self.civil_registry = civil_registry

    async def _append(
        self,
        conn: asyncpg.Connection,
        record: proposals.ProposalRecord,
        events: Sequence[EventPayload],
        causation: Causation,
    ) -> int:
        await self.store.append(
            conn,
            aggregate_type="proposal",
            aggregate_id=record.state.proposal_id,
            expected_version=record.stream_version,
            events=[NewEvent.of(e) for e in events],
            causation=causation,
        )
        return record.stream_version + len(events)

    async def _append_many(
        self,
        conn: asyncpg.Connection,
        changes: Sequence[
            tuple[proposals.ProposalRecord, Sequence[EventPayload], Causation, VerificationState]
        ],
        *,
        extra: Sequence[StreamAppend] = (),
    ) -> None:
        """Append to many proposals' streams and store their new standings, in a handful of
        statements whatever their number (one append per proposal costs four round trips)."""
        if not changes and not extra:
            return
        await self.store.append_many(
            conn,
            [
                *extra,
                *(
                    StreamAppend(
                        "proposal",
                        record.state.proposal_id,
                        record.stream_version,
                        [NewEvent.of(e) for e in events],
                        causation,
                    )
                    for record, events, causation, _ in changes
                ),
            ],
            causation=Causation(),
        )
        await proposals.save_many(
            conn, [(state, record.stream_version + len(events)) for record, events, _, state in changes]
        )

    @staticmethod
    def wanted(record: proposals.ProposalRecord | None) -> tuple[str, ...]:
        """The NIKs a proposal's check needs from the civil registry."""
        return () if record is None else people_to_look_up(record.content)

    # --- the integrity standard -------------------------------------------------------------

    @staticmethod
    def conclusion(
        record: proposals.ProposalRecord,
        stage: IntegrityStage,
        facts: RegisterFacts,
        civil: Mapping[str, CivilPerson | None],
        causation: Causation,
        note: str | None,
        visits: Sequence[Mapping[str, Any]],
    ) -> tuple[list[EventPayload], VerificationState]:
        """Run the standard on a proposal: the events to record and where the proposal goes (the
        district queue or the acceptance on a pass, a return to the village on a failure)."""
        state, content = record.state, record.content
        findings = check_proposal(content, facts, civil, dt.datetime.now(dt.UTC).date())
        common = {"proposal_id": state.proposal_id, "round": state.round, "village_code": state.village_code}
        events: list[EventPayload] = [
            IntegrityChecked(**common, stage=stage, passed=not findings, findings=findings)
        ]
        if stage is IntegrityStage.ENTRY:
            new_state = entry_checked(state, passed=not findings)
            if findings:
                # A return at entry is expressed at the first tier, with no person returning it.
                events.append(
                    ReturnedAtTier(**common, tier=Tier.DISTRICT, returned_by=None, reasons=findings)
                )
        else:
            new_state = ministry_checked(state, passed=not findings)
            if findings:
                events.append(
                    ReturnedAtTier(
                        **common, tier=Tier.MINISTRY, returned_by=None, reasons=findings, note=note
                    )
                )
            else:
                household = content.household
                if household is not None:
                    household = with_latest_visit(household, visits)
                events.append(
                    AcceptedByMinistry(
                        **common,
                        kind=content.kind,
                        household=household,
                        target_household_id=content.target_household_id,
                        deactivation_reason=content.deactivation_reason,
                        programs_requested=content.programs_requested,
                        accepted_at=utc_now(),
                        accepted_by=causation.actor,
                    )
                )
        return events, new_state

    async def run_checks(
        self,
        checks: Sequence[pending_checks.PendingCheck],
        civil: Mapping[str, Mapping[str, CivilPerson | None]],
        loaded: Mapping[str, proposals.ProposalRecord],
    ) -> int:
        """Conclude leased checks whose look-ups succeeded, in one transaction; `loaded` are their
        proposals as read for the look-ups (locked and refreshed here). Returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            records = await proposals.lock_current(conn, loaded)
            live: list[tuple[pending_checks.PendingCheck, proposals.ProposalRecord]] = []
            for check in checks:
                record = records.get(check.proposal_id)
                expected = Status.CHECKING if check.stage == IntegrityStage.ENTRY else Status.ACCEPTING
                if (
                    record is not None
                    and record.state.round == check.round
                    and record.state.status is expected
                ):
                    live.append((check, record))
            # A check of a round that moved on (withdrawn, resubmitted) is simply dropped.
            await pending_checks.finish_checks(conn, checks)
            await self._conclude(conn, live, lambda pid: civil[pid])
        return len(live)

    async def check_new_rounds(
        self,
        conn: asyncpg.Connection,
        rounds: Sequence[rounds.NewRound],
        civil: Mapping[str, CivilPerson | None],
    ) -> int:
        """The entry checks of rounds that intake started unqueued in `conn`'s transaction, with
        the civil registry's records of their people (`civil`, by NIK, looked up for the batch):
        concluded in that same transaction, beside the events' inbox rows. Returns how many."""
        live = await self._started(conn, rounds)
        await pending_checks.drop_checks(
            conn, [check.proposal_id for check, record in live if record.state.round > 1]
        )
        await self._conclude(conn, live, lambda pid: civil)
        return len(live)

    async def queue_new_rounds(self, conn: asyncpg.Connection, rounds: Sequence[rounds.NewRound]) -> int:
        """Queue the entry checks of rounds started unqueued, for the worker (the civil registry
        did not answer intake's look-up). Returns how many."""
        live = await self._started(conn, rounds)
        await pending_checks.enqueue_checks(
            conn,
            [
                pending_checks.PendingCheck(c.proposal_id, c.round, c.stage, correlation_id=c.correlation_id,
                                causation_id=c.causation_id)
                for c, _ in live
            ],
        )  # fmt: skip
        return len(live)

    @staticmethod
    async def _started(
        conn: asyncpg.Connection, rounds: Sequence[rounds.NewRound]
    ) -> list[tuple[pending_checks.PendingCheck, proposals.ProposalRecord]]:
        """Of `rounds` started in `conn`'s transaction, each proposal's current round still waiting
        for its entry check, as the check to run. Left out: an earlier round of a proposal in the
        same batch, the same round arriving twice (the first started it), a round that did not
        start, a proposal withdrawn later in the batch."""
        records = await proposals.current_rounds(conn, {r.content.proposal_id: r.content for r in rounds})
        live = []
        seen = set()
        for r in rounds:
            pid = r.content.proposal_id
            record = records.get(pid)
            if pid in seen or record is None or record.state.status is not Status.CHECKING:
                continue
            if r.content.round != record.state.round:
                continue
            seen.add(pid)
            check = pending_checks.PendingCheck(
                pid,
                record.state.round,
                IntegrityStage.ENTRY.value,
                None,
                None,
                r.correlation_id,
                r.causation_id,
            )
            live.append((check, record))
        return live

    async def _conclude(
        self,
        conn: asyncpg.Connection,
        live: Sequence[tuple[pending_checks.PendingCheck, proposals.ProposalRecord]],
        civil_of: Callable[[str], Mapping[str, CivilPerson | None]],
    ) -> None:
        """Run the standard on proposals locked in `conn`'s transaction and record the outcomes:
        the register's facts in a few set-based queries for all of them, events and standings in a
        few statements. `civil_of(proposal_id)` maps each of its people's NIKs to their record."""
        if not live:
            return
        facts = await register.register_facts(conn, [r for _, r in live])
        visits = await field_visits.visits_of_many(
            conn, [c.proposal_id for c, _ in live if c.stage == IntegrityStage.MINISTRY]
        )
        changes = []
        for check, record in live:
            causation = Causation(
                actor=check.requested_by,
                correlation_id=check.correlation_id or str(uuid.uuid4()),
                causation_id=check.causation_id,
            )
            pid = record.state.proposal_id
            events, new_state = self.conclusion(
                record,
                IntegrityStage(check.stage),
                facts[pid],
                civil_of(pid),
                causation,
                check.note,
                visits.get(pid, []),
            )
            changes.append((record, events, causation, new_state))
        await self._append_many(conn, changes)

    # --- decisions at the tiers -------------------------------------------------------------

    async def decide(
        self, principal: Principal, command: DecisionCommand, correlation_id: str
    ) -> dict[str, Any]:
        (result,) = await self.decide_many(principal, [command], correlation_id)
        if isinstance(result, Refusal):
            raise result
        return result

    async def decide_many(
        self, principal: Principal, commands: Sequence[DecisionCommand | Refusal], correlation_id: str
    ) -> list[dict[str, Any] | Refusal]:
        """Many decisions, each standing or falling alone, recorded together: the proposals are
        locked and loaded at once, every decision is judged in memory in list order (a later one on
        the same proposal sees the earlier), and the events and standings are written in a few
        statements. The Ministry's acceptances re-run the integrity standard: their civil-registry
        look-ups are made for the whole list in one or two batch requests before the transaction
        (never holding a lock), and the rules run in memory. If the registry does not answer, the
        acceptances wait in `accepting` and the checks worker concludes them when it answers."""
        actor = principal.as_actor()
        causation = Causation(actor=actor, correlation_id=correlation_id)
        valid = [c for c in commands if isinstance(c, DecisionCommand)]
        acceptances = list(dict.fromkeys(c.proposal_id for c in valid if self._is_acceptance(c)))
        civil = await self._look_up_for_acceptance(acceptances)
        results: list[dict[str, Any] | Refusal] = []
        async with self.pool.acquire() as conn, conn.transaction():
            records = await proposals.load_many(conn, [c.proposal_id for c in valid], for_update=True)
            accepted_records = [records[pid] for pid in acceptances if pid in records]
            facts = await register.register_facts(conn, accepted_records) if accepted_records else {}
            visits = await field_visits.visits_of_many(conn, [r.state.proposal_id for r in accepted_records])
            # Per proposal: its record as loaded, the events decided so far, its latest state.
            decided: dict[str, tuple[proposals.ProposalRecord, list[EventPayload], VerificationState]] = {}
            waiting: list[pending_checks.PendingCheck] = []
            for command in commands:
                if isinstance(command, Refusal):
                    results.append(command)
                    continue
                pid = command.proposal_id
                record = records.get(pid)
                loaded, events, state = decided.get(pid) or (record, [], None)
                current = state or (loaded.state if loaded is not None else None)
                try:
                    if self._is_acceptance(command):
                        new_events, new_state = self._judge_acceptance(
                            principal, command, loaded, current, civil, facts, visits, causation
                        )
                        if new_state.status is Status.ACCEPTING:
                            waiting.append(self._recheck(new_state, command, causation))
                    else:
                        event, new_state = self._judge(principal, actor, command, current)
                        new_events = [event]
                except Refusal as refusal:
                    results.append(refusal)
                    continue
                assert loaded is not None
                decided[pid] = (loaded, [*events, *new_events], new_state)
                results.append(outcome(new_state))
            await self._append_many(
                conn, [(record, events, causation, state) for record, events, state in decided.values()]
            )
            # A proposal reaches `accepting` at most once in a list (it then awaits no tier).
            await pending_checks.enqueue_checks(conn, waiting)
        return results

    @staticmethod
    def _is_acceptance(command: DecisionCommand) -> bool:
        return command.tier == "ministry" and command.decision is Decision.FORWARD

    async def _look_up_for_acceptance(self, proposal_ids: Sequence[str]) -> dict[str, CivilAnswer]:
        """The civil registry's records of the people of the proposals the Ministry forwards, for
        the whole list in one or two batch requests; empty when the registry does not answer.
        Only proposals waiting in a queue are looked up (the others will be refused)."""
        if not proposal_ids:
            return {}
        async with self.pool.acquire() as conn:
            records = await proposals.load_many(conn, proposal_ids)
        live = [r for r in records.values() if r.state.status is Status.IN_TIER]
        try:
            found = await self.civil_registry.people_of_many([self.wanted(r) for r in live])
        except CivilRegistryUnavailable:
            return {}
        return {
            r.state.proposal_id: CivilAnswer(r.state.round, people)
            for r, people in zip(live, found, strict=True)
        }

    def _judge_acceptance(
        self,
        principal: Principal,
        command: DecisionCommand,
        record: proposals.ProposalRecord | None,
        state: VerificationState | None,
        civil: Mapping[str, CivilAnswer],
        facts: Mapping[str, RegisterFacts],
        visits: Mapping[str, Sequence[Mapping[str, Any]]],
        causation: Causation,
    ) -> tuple[list[EventPayload], VerificationState]:
        """The Ministry's forward of a proposal in `state` (None: unknown): the integrity standard
        runs again and the proposal is accepted or returned; without the civil registry's answer
        it waits in `accepting` (no event yet). Raises a Refusal."""
        if record is None or state is None:
            raise self._not_found(command.proposal_id)
        authorize_at_tier(Tier.MINISTRY, principal.role, principal.region, state.village_code)
        accepting = decide(state, Tier.MINISTRY, Decision.FORWARD)
        looked_up = civil.get(accepting.proposal_id)
        # People looked up for another round's content (resubmitted meanwhile) do not count.
        if looked_up is None or looked_up.round != accepting.round:
            return [], accepting
        return self.conclusion(
            replace(record, state=accepting),
            IntegrityStage.MINISTRY,
            facts[accepting.proposal_id],
            looked_up.people,
            causation,
            command.note,
            visits.get(accepting.proposal_id, []),
        )

    @staticmethod
    def _recheck(
        state: VerificationState, command: DecisionCommand, causation: Causation
    ) -> pending_checks.PendingCheck:
        return pending_checks.PendingCheck(
            state.proposal_id,
            state.round,
            IntegrityStage.MINISTRY.value,
            requested_by=causation.actor,
            note=command.note,
            correlation_id=causation.correlation_id,
        )

    @staticmethod
    def _judge(
        principal: Principal, actor: Actor, command: DecisionCommand, state: VerificationState | None
    ) -> tuple[EventPayload, VerificationState]:
        """A forward (below the Ministry) or a return on a proposal in `state` (None: unknown):
        its event and the new state, or a Refusal."""
        tier = parse_tier(command.tier)
        if command.decision is Decision.RETURN and not command.reasons:
            raise Refusal(
                "reasons_required", "A return needs at least one reason code for the village to act on."
            )
        if state is None:
            raise Verification._not_found(command.proposal_id)
        authorize_at_tier(tier, principal.role, principal.region, state.village_code)
        new_state = decide(state, tier, command.decision)
        common = {"proposal_id": state.proposal_id, "round": state.round, "village_code": state.village_code}
        event: EventPayload
        if command.decision is Decision.RETURN:
            reasons = tuple(Finding.of(code) for code in command.reasons)
            event = ReturnedAtTier(**common, tier=tier, returned_by=actor, reasons=reasons, note=command.note)
        else:
            event = VerifiedAtTier(**common, tier=tier, verifier=actor, note=command.note)
        return event, new_state

    async def _existing(
        self, conn: asyncpg.Connection, proposal_id: str, *, for_update: bool = False
    ) -> proposals.ProposalRecord:
        record = await proposals.load(conn, proposal_id, for_update=for_update)
        if record is None:
            raise self._not_found(proposal_id)
        return record

    @staticmethod
    def _not_found(proposal_id: str) -> Refusal:
        return Refusal(
            "proposal_not_found",
            f"No proposal {proposal_id} has reached verification; check the id, or wait until its "
            "submission has been received.",
        )

    # --- ratification by the regent's or mayor's decree --------------------------------------

    async def ratify(
        self,
        principal: Principal,
        regency_code: str,
        decree_number: str,
        decree_date: dt.date,
        proposal_ids: Sequence[str],
        correlation_id: str,
    ) -> dict[str, Any]:
        if principal.role is not Role.REGENT:
            raise Refusal(
                "role_not_allowed",
                f"Only the regent or mayor ratifies; you act as {principal.role.value}.",
            )
        if not contains(principal.region, regency_code):
            raise Refusal(
                "outside_region", f"Regency {regency_code} is outside your scope {principal.region}."
            )
        actor = principal.as_actor()
        causation = Causation(actor=actor, correlation_id=correlation_id)
        batch_id = uuid.uuid5(_BATCH_NAMESPACE, f"{regency_code}|{decree_number}").hex
        async with self.pool.acquire() as conn, conn.transaction():
            records = await proposals.load_many(conn, proposal_ids, for_update=True)
            errors = []
            for pid in proposal_ids:
                record = records.get(pid)
                try:
                    if record is None:
                        raise Refusal("proposal_not_found", f"No proposal {pid} is in verification.")
                    if not contains(regency_code, record.state.village_code):
                        raise Refusal(
                            "outside_region",
                            f"Proposal {pid} comes from {record.state.village_code}, outside {regency_code}.",
                        )
                    ensure_awaits(record.state, Tier.RATIFICATION)
                except Refusal as refusal:
                    errors.append({"proposal_id": pid, "code": refusal.code, "detail": refusal.detail})
            if errors:
                raise Refusal(
                    "ratification_refused",
                    f"{len(errors)} of the {len(proposal_ids)} proposals cannot be ratified under this decree; "
                    "nothing was ratified. Remove or fix them and send the batch again.",
                    errors=errors,
                )
            if not await ratifications.record_ratification(
                conn, batch_id, regency_code, decree_number, decree_date, proposal_ids
            ):
                raise Refusal(
                    "decree_already_used",
                    f"Decree {decree_number} already ratified a batch of regency {regency_code}; use the new decree's number.",
                )
            batch = BatchRatified(
                batch_id=batch_id,
                regency_code=regency_code,
                decree_number=decree_number,
                decree_date=decree_date,
                proposal_ids=tuple(proposal_ids),
                ratified_by=actor,
            )
            changes = []
            # A proposal named twice in the list is ratified once.
            for pid in dict.fromkeys(proposal_ids):
                record = records[pid]
                state = record.state
                event = VerifiedAtTier(
                    proposal_id=pid,
                    round=state.round,
                    village_code=state.village_code,
                    tier=Tier.RATIFICATION,
                    verifier=actor,
                    batch_id=batch_id,
                    decree_number=decree_number,
                )
                new_state = decide(state, Tier.RATIFICATION, Decision.FORWARD, by_decree=True)
                changes.append((record, [event], causation, new_state))
            await self._append_many(
                conn,
                changes,
                extra=[StreamAppend("ratification_batch", batch_id, 0, [NewEvent.of(batch)], causation)],
            )
            results = [outcome(state) for _, _, _, state in changes]
        return {"batch_id": batch_id, "decree_number": decree_number, "ratified": results}

    # --- field visits ---------------------------------------------------------------------------

    async def add_visit(
        self, principal: Principal, proposal_id: str, visit: dict[str, Any]
    ) -> dict[str, Any]:
        tier = {Role.DISTRICT_VERIFIER: Tier.DISTRICT, Role.REGENCY_OPERATOR: Tier.REGENCY}.get(
            principal.role
        )
        if tier is None:
            raise Refusal(
                "role_not_allowed",
                "Field visits are recorded by district verifiers and regency operators.",
            )
        async with self.pool.acquire() as conn, conn.transaction():
            record = await self._existing(conn, proposal_id, for_update=True)
            authorize_at_tier(tier, principal.role, principal.region, record.state.village_code)
            if record.state.status in (Status.WITHDRAWN, Status.ACCEPTED):
                raise Refusal(
                    f"proposal_{record.state.status.value}",
                    f"Proposal {proposal_id} is {record.state.status.value}; a visit can no longer change it.",
                )
            visit_id = await field_visits.add_visit(
                conn, proposal_id, record.state.round, visit, principal.as_actor()
            )
        return {"visit_id": visit_id, "proposal_id": proposal_id, "round": record.state.round}
