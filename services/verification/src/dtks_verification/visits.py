"""Field visits: the evidence a district verifier or regency operator attaches to a proposal while it
is open. The Ministry's acceptance carries the latest one (see `checks.with_latest_visit`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dtks_contracts.events.verification import FieldVisitRecorded
from dtks_contracts.vocabulary import Role, Tier
from dtks_runtime.auth import Principal
from dtks_runtime.event_store import Causation, NewEvent
from dtks_verification.adapters import field_visits, photos, proposals
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.photo_evidence import photo_findings
from dtks_verification.domain.workflow import Refusal, Status, authorize_at_tier
from dtks_verification.standing import not_found

# Who records visits, and at which tier's region they must be.
_VISITING_TIER = {Role.DISTRICT_VERIFIER: Tier.DISTRICT, Role.REGENCY_OPERATOR: Tier.REGENCY}


async def add_visit(
    deps: VerificationDeps,
    principal: Principal,
    proposal_id: str,
    visit: dict[str, Any],
    correlation_id: str | None = None,
) -> dict[str, Any]:
    tier = _VISITING_TIER.get(principal.role)
    if tier is None:
        raise Refusal(
            "role_not_allowed", "Field visits are recorded by district verifiers and regency operators."
        )
    async with deps.unit_of_work() as uow:
        record = await proposals.load(uow.conn, proposal_id, for_update=True)
        if record is None:
            raise not_found(proposal_id)
        state = record.state
        authorize_at_tier(tier, principal.role, principal.region, state.village_code)
        if state.status in (Status.WITHDRAWN, Status.ACCEPTED):
            raise Refusal(
                f"proposal_{state.status.value}",
                f"Proposal {proposal_id} is {state.status.value}; a visit can no longer change it.",
            )
        actor = principal.as_actor()
        # A photo that is not uploaded, taken far away or long before is a finding for the verifier,
        # not a refusal: officers in the field record the visit offline and upload photos when they
        # reach a connection, and the verifier decides what a discrepancy means.
        hashes = [p["sha256"] for p in visit.get("photos", [])]
        known = await photos.metadata_of(uow.conn, hashes)
        findings = [
            f
            for h in dict.fromkeys(hashes)
            for f in photo_findings(h, known.get(h), dt.date.fromisoformat(str(visit["visit_date"])),
                                    visit["latitude"], visit["longitude"], deps.evidence_policy)
        ]  # fmt: skip
        await photos.name_in_village(uow.conn, list(dict.fromkeys(hashes)), state.village_code)
        visit_id = await field_visits.add_visit(uow.conn, proposal_id, state.round, visit, actor, findings)
        # The visit is evidence a decision rests on: an event on the proposal's stream, so the
        # household's audit history and a replay show it, not only a row of this service.
        event = FieldVisitRecorded(
            proposal_id=proposal_id, round=state.round, village_code=state.village_code, visit_id=visit_id,
            tier=tier, recorded_by=actor, **visit,
        )  # fmt: skip
        await uow.append(
            aggregate_type="proposal",
            aggregate_id=proposal_id,
            expected_version=record.stream_version,
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id)
            if correlation_id
            else Causation(actor=actor),
        )
        await proposals.set_stream_version(uow.conn, proposal_id, record.stream_version + 1)
    return {"visit_id": visit_id, "proposal_id": proposal_id, "round": state.round, "findings": findings}
