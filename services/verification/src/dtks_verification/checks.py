"""The integrity standard run on proposals, and what it concluded recorded.

Two stages: the entry check of a new round (a pass puts the proposal in the district's queue, a
failure returns it to the village) and the Ministry's re-check when it forwards a proposal (a pass
accepts it, carrying the latest field visit; a failure returns it). Intake runs entry checks in its
batch's transaction, the decisions run the Ministry's, and the checks worker (`checks_worker.py`)
concludes the ones that waited for the civil registry, through :func:`run_checks`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.verification import (
    AcceptedByMinistry,
    IntegrityChecked,
    ReturnedAtTier,
    SentBackForCorrection,
)
from dtks_contracts.household import FieldVisit, Household
from dtks_contracts.vocabulary import IntegrityStage, Tier
from dtks_contracts.vocabulary.tiers import first_tier
from dtks_runtime.event_store import Causation
from dtks_runtime.unit_of_work import UnitOfWork
from dtks_verification.adapters import field_visits, pending_checks, proposals, register
from dtks_verification.adapters.pending_checks import PendingCheck
from dtks_verification.adapters.proposals import ProposalRecord
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.integrity import (
    CivilPerson,
    RegisterFacts,
    check_proposal,
    flag_proposal,
    people_to_look_up,
)
from dtks_verification.domain.workflow import CORRECTING_TIER, Status, entry_checked, ministry_checked
from dtks_verification.standing import Change, record


@dataclass(frozen=True)
class CheckToRun:
    """A check and the proposal it checks, loaded (and locked) in the transaction that runs it."""

    check: PendingCheck
    record: ProposalRecord


def wanted(record: ProposalRecord | None) -> tuple[str, ...]:
    """The NIKs a proposal's check needs from the civil registry."""
    return () if record is None else people_to_look_up(record.content)


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


def conclusion(
    record: ProposalRecord,
    stage: IntegrityStage,
    facts: RegisterFacts,
    civil: Mapping[str, CivilPerson | None],
    causation: Causation,
    note: str | None,
    visits: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> Change:
    """Run the standard on a proposal: the events to record and where the proposal goes (the
    district queue or the acceptance on a pass; on a failure at entry a return to the village, at the
    Ministry the regency's queue, for its social service to correct, with the village told)."""
    state = record.state
    findings = check_proposal(record.content, facts, civil, now.date())
    common = {"proposal_id": state.proposal_id, "round": state.round, "village_code": state.village_code}
    events: list[EventPayload] = [
        IntegrityChecked(
            **common,
            stage=stage,
            passed=not findings,
            findings=findings,
            flags=flag_proposal(record.content, facts, now.date()),
        )
    ]
    if stage is IntegrityStage.ENTRY:
        if findings:
            # A return at entry is expressed at the first tier of the kind's path, with no person
            # returning it.
            events.append(
                ReturnedAtTier(**common, tier=first_tier(state.kind), returned_by=None, reasons=findings)
            )
        return Change(record, events, causation, entry_checked(state, passed=not findings))
    if findings:
        events.append(
            SentBackForCorrection(
                **common,
                tier=Tier.MINISTRY,
                to_tier=CORRECTING_TIER,
                returned_by=None,
                reasons=findings,
                note=note,
            )
        )
    else:
        events.append(_acceptance(record, common, causation, visits, now))
    return Change(record, events, causation, ministry_checked(state, passed=not findings))


def _acceptance(
    record: ProposalRecord,
    common: Mapping[str, Any],
    causation: Causation,
    visits: Sequence[Mapping[str, Any]],
    now: dt.datetime,
) -> AcceptedByMinistry:
    content = record.content
    household = content.household
    if household is not None:
        household = with_latest_visit(household, visits)
    return AcceptedByMinistry(
        **common,
        kind=content.kind,
        household=household,
        target_household_id=content.target_household_id,
        deactivation_reason=content.deactivation_reason,
        programs_requested=content.programs_requested,
        institution=content.institution,
        target_institution_id=content.target_institution_id,
        closure_reason=content.closure_reason,
        assistance=content.assistance,
        accepted_at=now,
        accepted_by=causation.actor,
    )


async def conclude(
    deps: VerificationDeps,
    uow: UnitOfWork,
    due: Sequence[CheckToRun],
    civil_of: Callable[[str], Mapping[str, CivilPerson | None]],
) -> None:
    """Run the standard on proposals locked in `uow`'s transaction and record the outcomes: the
    register's facts in a few set-based queries for all of them, events and standings in a few
    statements. `civil_of(proposal_id)` maps each of its people's NIKs to their record."""
    if not due:
        return
    facts = await register.register_facts(uow.conn, [d.record for d in due])
    visits = await field_visits.visits_of_many(
        uow.conn, [d.check.proposal_id for d in due if d.check.stage == IntegrityStage.MINISTRY]
    )
    changes = []
    for check, proposal in ((d.check, d.record) for d in due):
        causation = Causation(
            actor=check.requested_by,
            correlation_id=check.correlation_id or str(uuid.uuid4()),
            causation_id=check.causation_id,
        )
        pid = proposal.state.proposal_id
        stage = IntegrityStage(check.stage)
        changes.append(
            conclusion(
                proposal,
                stage,
                facts[pid],
                civil_of(pid),
                causation,
                check.note,
                visits.get(pid, []),
                deps.clock(),
            )
        )
    await record(uow, changes)


async def run_checks(
    deps: VerificationDeps,
    checks: Sequence[PendingCheck],
    civil: Mapping[str, Mapping[str, CivilPerson | None]],
    loaded: Mapping[str, ProposalRecord],
) -> int:
    """Conclude leased checks whose look-ups succeeded, in one transaction; `loaded` are their
    proposals as read for the look-ups (locked and refreshed here). Returns how many."""
    async with deps.unit_of_work() as uow:
        records = await proposals.lock_current(uow.conn, loaded)
        due: list[CheckToRun] = []
        for check in checks:
            proposal = records.get(check.proposal_id)
            expected = Status.CHECKING if check.stage == IntegrityStage.ENTRY else Status.ACCEPTING
            if (
                proposal is not None
                and proposal.state.round == check.round
                and proposal.state.status is expected
            ):
                due.append(CheckToRun(check, proposal))
        # A check of a round that moved on (withdrawn, resubmitted) is simply dropped.
        await pending_checks.finish_checks(uow.conn, checks)
        await conclude(deps, uow, due, lambda pid: civil[pid])
    return len(due)
