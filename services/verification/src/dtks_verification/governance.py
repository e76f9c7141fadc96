"""The Ministry governs the workflow: freeze periods and deadlines per tier.

Where freezes live. Tier decisions and ratifications are this service's; determination decrees are
the registry's and new proposals the proposal service's. One owner declares a freeze, and it is this
service: a freeze is a rule of the verification workflow the Ministry runs, and the Ministry's
verifiers already act here. It records each freeze with its event (`verification.freeze_declared`,
`_shortened`, `_lifted`) in one unit of work and enforces it on its own actions from its table. The
other services are meant to consume those events into a small local table of their own and refuse
their actions from it, as they consume every other fact of the workflow: no service asks another
synchronously before it acts, so a freeze holds even while verification is down, and the events
are the freeze's audit trail (dtks_runtime.freezes: the table and the consumer's handler). The
registry refuses a decree during a national freeze of decrees; the proposal service does not yet
refuse new proposals (it has to add the same consumer).

A freeze refuses new actions; it never undoes or moves what was accepted before it, which waits.
Deadlines pause during a freeze that stops tier decisions in the item's region (see `deadlines`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from dtks_contracts.events.governance import (
    DeadlineSet,
    FreezeDeclared,
    FreezeLifted,
    FreezeShortened,
    FrozenAction,
)
from dtks_contracts.regions import region_level
from dtks_contracts.vocabulary import Role, Tier
from dtks_runtime.auth import Principal
from dtks_runtime.event_store import Causation, NewEvent
from dtks_verification.adapters import governance
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.freezes import Freeze
from dtks_verification.domain.workflow import Refusal

MINISTRY = frozenset({Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER})


@dataclass(frozen=True)
class DeclareFreeze:
    scope: str
    actions: tuple[FrozenAction, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str


def ensure_ministry(principal: Principal, what: str) -> None:
    if principal.role not in MINISTRY:
        raise Refusal("role_not_allowed", f"Only the Ministry {what}; you act as {principal.role.value}.")


def freeze_view(freeze: Freeze, *, lifted: bool = False) -> dict[str, Any]:
    return {
        "freeze_id": freeze.freeze_id,
        "scope": freeze.scope,
        "actions": sorted(a.value for a in freeze.actions),
        "starts_at": freeze.starts_at.isoformat(),
        "ends_at": freeze.ends_at.isoformat(),
        "reason": freeze.reason,
        "lifted": lifted,
    }


async def declare_freeze(
    deps: VerificationDeps, principal: Principal, command: DeclareFreeze, correlation_id: str
) -> dict[str, Any]:
    ensure_ministry(principal, "declares freezes")
    if region_level(command.scope) not in ("national", "province", "regency"):
        raise Refusal(
            "invalid_freeze_scope",
            f"A freeze holds for the whole country (ID), a province or a regency, not {command.scope}.",
        )
    if FrozenAction.DETERMINATION_DECREES in command.actions and command.scope != "ID":
        raise Refusal(
            "invalid_freeze_scope",
            "A determination decree is national; a freeze of decrees holds for the whole country (ID).",
        )
    if command.ends_at <= command.starts_at:
        raise Refusal("invalid_freeze_period", "A freeze must end after it starts; check ends_at.")
    if command.ends_at <= deps.clock():
        raise Refusal("invalid_freeze_period", "This freeze would already be over; check ends_at.")
    actor = principal.as_actor()
    freeze = Freeze(
        uuid.uuid4().hex,
        command.scope,
        frozenset(command.actions),
        command.starts_at,
        command.ends_at,
        command.reason,
    )
    event = FreezeDeclared(
        freeze_id=freeze.freeze_id,
        scope=freeze.scope,
        actions=tuple(dict.fromkeys(command.actions)),
        starts_at=freeze.starts_at,
        ends_at=freeze.ends_at,
        reason=freeze.reason,
        declared_by=actor,
    )
    async with deps.unit_of_work() as uow:
        await uow.append(
            aggregate_type="freeze",
            aggregate_id=freeze.freeze_id,
            expected_version=0,
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id),
        )
        await governance.save_freeze(uow.conn, freeze, 1)
    return freeze_view(freeze)


async def end_freeze_early(
    deps: VerificationDeps,
    principal: Principal,
    freeze_id: str,
    ends_at: dt.datetime | None,
    reason: str,
    correlation_id: str,
) -> dict[str, Any]:
    """Shorten the freeze to `ends_at`, or lift it now (`ends_at` None). Never lengthens one."""
    ensure_ministry(principal, "shortens or lifts freezes")
    now = deps.clock()
    actor = principal.as_actor()
    async with deps.unit_of_work() as uow:
        found = await governance.load_freeze(uow.conn, freeze_id)
        if found is None:
            raise Refusal("freeze_not_found", f"There is no freeze {freeze_id}; check the id.")
        freeze, version, lifted = found
        if lifted or freeze.ends_at <= now:
            raise Refusal("freeze_over", f"Freeze {freeze_id} is already over; nothing to change.")
        new_end = max(now, freeze.starts_at) if ends_at is None else ends_at
        if new_end >= freeze.ends_at:
            raise Refusal(
                "freeze_not_shortened",
                f"Freeze {freeze_id} already ends at {freeze.ends_at.isoformat()}; a shortened end is earlier "
                "(declare a new freeze to stop actions for longer).",
            )
        if ends_at is not None and ends_at <= now:
            raise Refusal(
                "invalid_freeze_period", "A shortened end lies ahead; to end the freeze now, lift it."
            )
        event: FreezeLifted | FreezeShortened = (
            FreezeLifted(freeze_id=freeze_id, lifted_at=new_end, reason=reason, lifted_by=actor)
            if ends_at is None
            else FreezeShortened(freeze_id=freeze_id, ends_at=new_end, reason=reason, changed_by=actor)
        )
        await uow.append(
            aggregate_type="freeze",
            aggregate_id=freeze_id,
            expected_version=version,
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id),
        )
        changed = replace(freeze, ends_at=new_end)
        await governance.save_freeze(uow.conn, changed, version + 1, lifted=ends_at is None)
    return freeze_view(changed, lifted=ends_at is None)


async def list_freezes(deps: VerificationDeps, principal: Principal) -> list[dict[str, Any]]:
    """The freezes holding or to come that touch the reader's region."""
    async with deps.connection() as conn:
        freezes = await governance.freezes_ending_after(conn, deps.clock())
    return [freeze_view(f) for f in freezes if f.covers(principal.region)]


async def set_deadline(
    deps: VerificationDeps,
    principal: Principal,
    tier: Tier,
    regency_code: str | None,
    working_days: int,
    correlation_id: str,
) -> dict[str, Any]:
    ensure_ministry(principal, "sets deadlines")
    actor = principal.as_actor()
    policy_id = f"{tier.value}:{regency_code or 'ID'}"
    async with deps.unit_of_work() as uow:
        version = await governance.save_deadline(uow.conn, tier, regency_code, working_days)
        event = DeadlineSet(
            policy_id=policy_id, tier=tier, regency_code=regency_code, working_days=working_days, set_by=actor
        )
        await uow.append(
            aggregate_type="deadline_policy",
            aggregate_id=policy_id,
            expected_version=version - 1,
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id),
        )
    return {
        "policy_id": policy_id,
        "tier": tier.value,
        "regency_code": regency_code,
        "working_days": working_days,
    }
