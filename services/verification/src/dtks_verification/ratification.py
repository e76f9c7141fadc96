"""The regent's or mayor's ratification of a batch of proposals by decree.

All or nothing: every proposal of the batch must come from the regency and wait at the regent's
tier, else nothing is ratified and the answer lists each one at fault. A regency uses a decree
number once. The batch is its own stream (`ratification_batch`, `BatchRatified`) beside a
`VerifiedAtTier` on each proposal's stream, all in one unit of work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.events.verification import BatchRatified, VerifiedAtTier
from dtks_contracts.regions import contains
from dtks_contracts.vocabulary import Role, Tier
from dtks_runtime.auth import Principal
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_verification.adapters import governance, proposals, ratifications
from dtks_verification.adapters.proposals import ProposalRecord
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.freezes import ensure_not_frozen
from dtks_verification.domain.workflow import Decision, Refusal, decide, ensure_awaits
from dtks_verification.standing import Change, outcome, record

_BATCH_NAMESPACE = uuid.UUID("6f1d8a52-3f0b-4c8e-9a41-2b7c5d9e0f13")


@dataclass(frozen=True)
class RatifyCommand:
    regency_code: str
    decree_number: str
    decree_date: dt.date
    proposal_ids: Sequence[str]

    @property
    def batch_id(self) -> str:
        """The same decree of the same regency names the same batch (a resend finds it used)."""
        return uuid.uuid5(_BATCH_NAMESPACE, f"{self.regency_code}|{self.decree_number}").hex


async def ratify(
    deps: VerificationDeps, principal: Principal, command: RatifyCommand, correlation_id: str
) -> dict[str, Any]:
    _authorize(principal, command.regency_code)
    causation = Causation(actor=principal.as_actor(), correlation_id=correlation_id)
    async with deps.unit_of_work() as uow:
        now = deps.clock()
        freezes = await governance.freezes_ending_after(uow.conn, now)
        ensure_not_frozen(freezes, FrozenAction.RATIFICATIONS, command.regency_code, now)
        records = await proposals.load_many(uow.conn, command.proposal_ids, for_update=True)
        _ensure_ratifiable(command, records)
        if not await ratifications.record_ratification(
            uow.conn,
            command.batch_id,
            command.regency_code,
            command.decree_number,
            command.decree_date,
            command.proposal_ids,
        ):
            raise Refusal(
                "decree_already_used",
                f"Decree {command.decree_number} already ratified a batch of regency "
                f"{command.regency_code}; use the new decree's number.",
            )
        # A proposal named twice in the list is ratified once.
        changes = [_ratified(records[pid], command, causation) for pid in dict.fromkeys(command.proposal_ids)]
        await record(uow, changes, extra=[_batch(command, causation)])
    return {
        "batch_id": command.batch_id,
        "decree_number": command.decree_number,
        "ratified": [outcome(c.standing) for c in changes],
    }


def _authorize(principal: Principal, regency_code: str) -> None:
    if principal.role is not Role.REGENT:
        raise Refusal(
            "role_not_allowed", f"Only the regent or mayor ratifies; you act as {principal.role.value}."
        )
    if not contains(principal.region, regency_code):
        raise Refusal("outside_region", f"Regency {regency_code} is outside your scope {principal.region}.")


def _ensure_ratifiable(command: RatifyCommand, records: Mapping[str, ProposalRecord]) -> None:
    """Refuse the whole batch, naming each proposal at fault, if any cannot be ratified."""
    errors = []
    for pid in command.proposal_ids:
        found = records.get(pid)
        try:
            if found is None:
                raise Refusal("proposal_not_found", f"No proposal {pid} is in verification.")
            if not contains(command.regency_code, found.state.village_code):
                raise Refusal(
                    "outside_region",
                    f"Proposal {pid} comes from {found.state.village_code}, outside {command.regency_code}.",
                )
            ensure_awaits(found.state, Tier.RATIFICATION)
        except Refusal as refusal:
            errors.append({"proposal_id": pid, "code": refusal.code, "detail": refusal.detail})
    if errors:
        raise Refusal(
            "ratification_refused",
            f"{len(errors)} of the {len(command.proposal_ids)} proposals cannot be ratified under this decree; "
            "nothing was ratified. Remove or fix them and send the batch again.",
            errors=errors,
        )


def _ratified(found: ProposalRecord, command: RatifyCommand, causation: Causation) -> Change:
    state = found.state
    event = VerifiedAtTier(
        proposal_id=state.proposal_id,
        round=state.round,
        village_code=state.village_code,
        tier=Tier.RATIFICATION,
        verifier=causation.actor,
        batch_id=command.batch_id,
        decree_number=command.decree_number,
    )
    new_state = decide(state, Tier.RATIFICATION, Decision.FORWARD, by_decree=True)
    return Change(found, [event], causation, new_state)


def _batch(command: RatifyCommand, causation: Causation) -> StreamAppend:
    batch = BatchRatified(
        batch_id=command.batch_id,
        regency_code=command.regency_code,
        decree_number=command.decree_number,
        decree_date=command.decree_date,
        proposal_ids=tuple(command.proposal_ids),
        ratified_by=causation.actor,
    )
    return StreamAppend("ratification_batch", command.batch_id, 0, [NewEvent.of(batch)], causation)
