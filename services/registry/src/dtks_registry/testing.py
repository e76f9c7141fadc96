"""Helpers for the registry's tests and benchmark: real contract events of other services, sent to
the real topics (never imports of other services' code)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.household import Address, Household, Member
from dtks_contracts.institution import Assistance, Institution
from dtks_contracts.topics import REGISTRY_PUBLIC
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.testing import publish_events

# Real villages of Kota Bengkulu (17.71), in two districts.
VILLAGES = ("17.71.01.1001", "17.71.01.1002", "17.71.02.1001", "17.71.02.1002")
MINISTRY = Actor(subject="kemensos-verifier", role=Role.MINISTRY_VERIFIER, region="ID")


def nik(i: int, *, female: bool = False, district: str = "177101") -> str:
    """A valid, distinct NIK for every i below ~33 million."""
    day = 1 + i % 28 + (40 if female else 0)
    month = 1 + (i // 28) % 12
    year = (i // 336) % 100
    serial = 1 + (i // 33600) % 9999
    return f"{district}{day:02d}{month:02d}{year:02d}{serial:04d}"


def nik_birth_date(value: str) -> dt.date:
    day, month, year2 = int(value[6:8]) % 40, int(value[8:10]), int(value[10:12])
    return dt.date(1900 + year2 if year2 > 30 else 2000 + year2, month, day)


def make_household(
    i: int, *, village: str | None = None, head_name: str = "Siti Aminah", **overrides: Any
) -> Household:
    village = village or VILLAGES[i % len(VILLAGES)]
    head, spouse = nik(2 * i, female=True), nik(2 * i + 1)
    fields: dict[str, Any] = {
        "kk_number": f"177101{i:010d}",
        "address": Address(street=f"Jl. Pagar Dewa No. {i % 500 + 1}", rt="003", rw="001"),
        "village_code": village,
        "members": (
            Member(nik=head, name=head_name, birth_date=nik_birth_date(head), sex=Sex.FEMALE,
                   relation_to_head=RelationToHead.HEAD),
            Member(nik=spouse, name="Budi Santoso", birth_date=nik_birth_date(spouse), sex=Sex.MALE,
                   relation_to_head=RelationToHead.SPOUSE),
        ),
    }  # fmt: skip
    fields.update(overrides)
    return Household(**fields)


def envelope(
    payload: EventPayload,
    *,
    version: int = 1,
    actor: Actor | None = MINISTRY,
    occurred_at: dt.datetime | None = None,
    caused_by: EventEnvelope | None = None,
    correlation_id: str | None = None,
) -> EventEnvelope:
    return EventEnvelope.new(
        payload, aggregate_version=version, actor=actor, occurred_at=occurred_at, caused_by=caused_by,
        correlation_id=correlation_id,
    )  # fmt: skip


def acceptance(
    proposal_id: str,
    *,
    accepted_at: dt.datetime,
    household: Household | None = None,
    kind: ProposalKind = ProposalKind.NEW_HOUSEHOLD,
    target: str | None = None,
    reason: DeactivationReason | None = None,
    programs: Sequence[Program] = (Program.PKH,),
    round: int = 1,
    version: int = 1,
) -> EventEnvelope:
    village = household.village_code if household else VILLAGES[0]
    payload = AcceptedByMinistry(
        proposal_id=proposal_id, round=round, village_code=village, kind=kind, household=household,
        target_household_id=target, deactivation_reason=reason, programs_requested=tuple(programs),
        accepted_at=accepted_at, accepted_by=MINISTRY,
    )  # fmt: skip
    return envelope(payload, version=version, occurred_at=accepted_at)


def make_institution(
    name: str = "LKSA Harapan Bunda", *, village: str = VILLAGES[0], **overrides: Any
) -> Institution:
    """An institution (LKS) of Kota Bengkulu with two residents living there."""
    residents = [nik(900_000 + i) for i in range(2)]
    fields: dict[str, Any] = {
        "name": name,
        "legal_form": "foundation",
        "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
        "service_type": "children",
        "address": {"street": "Jl. Pagar Dewa No. 21"},
        "village_code": village,
        "head": "Nurhayati",
        "capacity": 40,
        "licence": {"number": "460/112/DINSOS/2024", "issued_by": village[:5], "issued_on": "2024-02-01"},
        "contact": {"phone": "+6273621234"},
        "bank_account_ref": "bank-ref:lksa",
        "residents": [
            {"nik": n, "name": "Andi Saputra", "birth_date": nik_birth_date(n).isoformat(),
             "admitted_on": max(nik_birth_date(n), dt.date(2021, 1, 4)).isoformat()}
            for n in residents
        ],
    }  # fmt: skip
    fields.update(overrides)
    return Institution.model_validate(fields)


def institution_acceptance(
    proposal_id: str,
    *,
    accepted_at: dt.datetime,
    institution: Institution | None = None,
    kind: ProposalKind = ProposalKind.INSTITUTION_REGISTRATION,
    target: str | None = None,
    closure_reason: ClosureReason | None = None,
    assistance: Assistance | None = None,
    village_code: str | None = None,
) -> EventEnvelope:
    """The Ministry's acceptance of an institution's registration, change, closure or assistance."""
    village = village_code or (institution.village_code if institution else VILLAGES[0])
    payload = AcceptedByMinistry(
        proposal_id=proposal_id, round=1, village_code=village, kind=kind, institution=institution,
        target_institution_id=target, closure_reason=closure_reason, assistance=assistance, accepted_at=accepted_at,
        accepted_by=MINISTRY,
    )  # fmt: skip
    return envelope(payload, occurred_at=accepted_at)


produce = publish_events  # verification's events, on their real (prefixed) topics


def ago(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)


def new_proposal_id() -> str:
    return f"prop-{uuid.uuid4().hex[:12]}"


async def public_event_ids(
    kafka_bootstrap: str, topic_prefix: str, wanted: set[str], within: float = 60
) -> set[str]:
    """Event ids on the registry's public topic, read from the start until ``wanted`` are all there
    (or ``within`` seconds pass): every id read, so a caller can also see what should not be there."""
    consumer = AIOKafkaConsumer(
        REGISTRY_PUBLIC.with_prefix(topic_prefix).name,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + within
        while not wanted <= seen and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen |= {json.loads(r.value)["event_id"] for r in records if r.value is not None}
    finally:
        await consumer.stop()
    return seen
