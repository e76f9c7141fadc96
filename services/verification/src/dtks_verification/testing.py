"""Helpers for the verification service's tests and benchmark: turn generated proposals into the
proposal service's events, and a generated population into civil-registry records."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer

from dtks_contracts.envelope import Actor, EventEnvelope
from dtks_contracts.events.proposal import ProposalResubmitted, ProposalSubmitted, ProposalWithdrawn
from dtks_contracts.household import Household
from dtks_contracts.vocabulary import ProposalOrigin, Role, Sex
from dtks_runtime.testing import publish_events
from dtks_verification.domain.integrity import CivilPerson


def operator_of(village_code: str) -> Actor:
    return Actor(subject=f"operator@{village_code}", role=Role.VILLAGE_OPERATOR, region=village_code)


def submitted(body: dict[str, Any]) -> ProposalSubmitted:
    """A generated proposal body (the proposal service's API shape) as its first-round event."""
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": body["proposal_id"],
            "round": 1,
            "kind": body["kind"],
            "origin": ProposalOrigin.VILLAGE.value,
            "village_code": body["village_code"],
            "deliberation": body.get("deliberation"),
            "household": body.get("household"),
            "target_household_id": body.get("target_household_id"),
            "deactivation_reason": body.get("deactivation_reason"),
            "evidence_note": body.get("evidence_note"),
            "programs_requested": tuple(body.get("programs", ())),
            "submitted_by": operator_of(body["village_code"]).model_dump(mode="json"),
        }
    )


def resubmitted(
    first: ProposalSubmitted, round_: int, household: Household | None = None
) -> ProposalResubmitted:
    data = first.model_dump(mode="json")
    data.update(round=round_, correction_note="Corrected after the return")
    if household is not None:
        data["household"] = household.model_dump(mode="json")
    return ProposalResubmitted.model_validate(data)


def withdrawn(content: ProposalSubmitted | ProposalResubmitted) -> ProposalWithdrawn:
    return ProposalWithdrawn(
        proposal_id=content.proposal_id,
        round=content.round,
        village_code=content.village_code,
        withdrawn_by=operator_of(content.village_code),
        reason="The family moved before verification",
    )


def envelope(payload: Any, version: int = 1) -> EventEnvelope:
    actor = getattr(payload, "submitted_by", None) or getattr(payload, "withdrawn_by", None)
    return EventEnvelope.new(payload, aggregate_version=version, actor=actor)


def civil_people(records: Iterable[Any]) -> dict[str, CivilPerson]:
    """CivilRegistryRecords of the synthetic population, as the port returns them."""
    return {
        r.nik: CivilPerson(
            nik=r.nik,
            name=r.name,
            birth_date=r.birth_date
            if isinstance(r.birth_date, dt.date)
            else dt.date.fromisoformat(r.birth_date),
            sex=Sex(r.sex),
            kk_number=r.kk_number,
            village_code=r.moved_to or r.village_code,
            alive=r.alive,
        )
        for r in records
    }


# --- real HTTP and real Kafka around the service under test -----------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def http_server(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in this event loop; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


publish = publish_events  # other services' events, on their real (prefixed) topics


class TopicReader:
    """Reads a topic from the beginning, accumulating envelopes, for assertions on emitted events."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.events: list[EventEnvelope] = []
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[EventEnvelope]:
        batches = await self._consumer.getmany(timeout_ms=100)
        for records in batches.values():
            self.events += [EventEnvelope.from_bytes(r.value) for r in records if r.value]
        return self.events

    def of(self, proposal_id: str, event_type: str | None = None) -> list[EventEnvelope]:
        return [
            e
            for e in self.events
            if e.payload.get("proposal_id") == proposal_id
            and (event_type is None or e.event_type == event_type)
        ]
