"""A realistic event log for the registry benchmark: quarters of households through every tier.

What the registry's replay reads, as a real pipeline writes it (``dtks.verification.events`` and
``dtks.registry.events``), per household and in the order the services record it:
- verification: the entry integrity check; for one proposal in ten a return at the district with
  coded reasons and a second round's entry check; verified at the district, the regency, the
  regent's ratification (with a batch ratification event per hundred proposals) and the province;
  the Ministry's integrity check; the Ministry's acceptance carrying the full household;
- registry, once a quarter's decree is issued: household_registered with the full snapshot, and the
  determination listing every household it fixes;
- the next quarter: corrections (one household in twenty) and deactivations (one in fifty) of
  determined households, through the same tiers, then household_corrected / household_deactivated.
Three quarters: the first two determined, the third accepted and waiting for a decree (the
candidates). About eight events per household, a quarter of them carrying a whole household, as
the 50k-household pipeline's log.

Households are the synthetic population's (``dtks_synthetic``: members, housing, assets), cloned
under fresh KK numbers; events are the contract models' JSON (one template per type, built with the
models), varied per event, so millions are produced in seconds. The replay validates every event it
reads with the models, so a template that drifted from the contract fails the benchmark.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.registry import (
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    Period,
    RegisterCounts,
)
from dtks_contracts.events.verification import (
    AcceptedByMinistry,
    BatchRatified,
    Finding,
    IntegrityChecked,
    ReturnedAtTier,
    VerifiedAtTier,
)
from dtks_contracts.household import Household
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.topics import REGISTRY_EVENTS, VERIFICATION_EVENTS, key_field_for
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.reasons import ReasonCode
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import IntegrityStage, Tier
from dtks_registry.domain.identity import household_id_for
from dtks_synthetic import generate_population, iter_new_household_bodies

EVENTS_PER_HOUSEHOLD = 8.1  # measured on this generator: lifecycle + returns + upkeep + decrees
POOL = 1500  # distinct synthetic households cloned
BATCH = 100  # proposals per regent's ratification batch

_MINISTRY = Actor(subject="kemensos-verifier", role=Role.MINISTRY_VERIFIER, region="ID")
_DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
_TIER_ACTORS = {
    Tier.DISTRICT: Actor(subject="kec-1", role=Role.DISTRICT_VERIFIER, region="17.71.01"),
    Tier.REGENCY: Actor(subject="dinsos-1", role=Role.REGENCY_OPERATOR, region="17.71"),
    Tier.RATIFICATION: Actor(subject="walikota", role=Role.REGENT, region="17.71"),
    Tier.PROVINCE: Actor(subject="prov-1", role=Role.PROVINCE_VERIFIER, region="17"),
}


@dataclass(frozen=True)
class Record:
    topic: str  # unprefixed
    key: bytes
    value: bytes


def household_pool(size: int = POOL) -> list[dict[str, Any]]:
    """Synthetic households as the verification service writes them (validated, dumped as JSON)."""
    population = generate_population("17.71", people=size * 7, seed=7)
    pool = []
    for body in iter_new_household_bodies(population, seed=7):
        household = Household.model_validate({**body["household"], "programs": ["PKH"]})
        pool.append(household.model_dump(mode="json"))
        if len(pool) == size:
            break
    return pool


class _Template:
    """An envelope's JSON as the contract models make it, re-stamped per event."""

    def __init__(self, payload: EventPayload, actor: Actor | None) -> None:
        doc = json.loads(EventEnvelope.new(payload, aggregate_version=1, actor=actor).to_bytes())
        self.doc = doc
        self.key_field = key_field_for(payload.event_type)

    def make(self, at: dt.datetime, version: int = 1, **payload: Any) -> tuple[bytes, bytes]:
        doc = copy.copy(self.doc)
        event_id = str(uuid.uuid4())
        doc["event_id"] = event_id
        doc["correlation_id"] = event_id
        doc["occurred_at"] = at.isoformat().replace("+00:00", "Z")
        doc["aggregate_version"] = version
        body = {**self.doc["payload"], **payload}
        doc["payload"] = body
        key = str(body[self.key_field])
        doc["aggregate_id"] = key
        return key.encode(), json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class StreamBuilder:
    def __init__(self, start: dt.datetime, hash_algorithm: str = REGISTER_HASH_ALGORITHM) -> None:
        self.pool = household_pool()
        self.at = start
        village = "17.71.01.1001"
        finding = Finding.of(ReasonCode.NIK_ALREADY_REGISTERED, field_path="household.members[0].nik")
        base = {"proposal_id": "p", "round": 1, "village_code": village}
        self.checked = _Template(IntegrityChecked(**base, stage=IntegrityStage.ENTRY, passed=True), None)
        self.verified = _Template(
            VerifiedAtTier(**base, tier=Tier.DISTRICT, verifier=_TIER_ACTORS[Tier.DISTRICT],
                           note="Checked at the district office"), _TIER_ACTORS[Tier.DISTRICT]
        )  # fmt: skip
        self.returned = _Template(
            ReturnedAtTier(**base, tier=Tier.DISTRICT, returned_by=_TIER_ACTORS[Tier.DISTRICT],
                           reasons=(finding,), note="Please check the head's NIK with Dukcapil"),
            _TIER_ACTORS[Tier.DISTRICT],
        )  # fmt: skip
        self.ratified = _Template(
            BatchRatified(batch_id="b", regency_code="17.71", decree_number="1/SK/2026",
                          decree_date=start.date(), proposal_ids=("p",), ratified_by=_TIER_ACTORS[Tier.RATIFICATION]),
            _TIER_ACTORS[Tier.RATIFICATION],
        )  # fmt: skip
        household = Household.model_validate(self.pool[0])
        self.accepted = _Template(
            AcceptedByMinistry(**{**base, "village_code": household.village_code}, kind=ProposalKind.NEW_HOUSEHOLD,
                               household=household, programs_requested=(Program.PKH,), accepted_at=start,
                               accepted_by=_MINISTRY), _MINISTRY,
        )  # fmt: skip
        hid = household_id_for("p")
        snapshot = household.model_copy(update={"household_id": hid})
        self.registered = _Template(
            HouseholdRegistered(household_id=hid, decree_number="1/HUK/2026", household=snapshot, proposal_id="p"),
            _DETERMINER,
        )  # fmt: skip
        self.corrected = _Template(
            HouseholdCorrected(household_id=hid, decree_number="1/HUK/2026", household=snapshot, proposal_id="p",
                               changed_fields=("address",)), _DETERMINER,
        )  # fmt: skip
        self.deactivated = _Template(
            HouseholdDeactivated(household_id=hid, decree_number="1/HUK/2026", kk_number=household.kk_number,
                                 reason=DeactivationReason.MOVED_AWAY, proposal_id="p"), _DETERMINER,
        )  # fmt: skip
        self.determination = _Template(
            DeterminationIssued(decree_number="1/HUK/2026", period=Period(year=2026, quarter=1), cut_off=start,
                                issued_at=start, register_hash="0" * 64, hash_algorithm=hash_algorithm,
                                counts=RegisterCounts(households=0, people=0), issued_by=_DETERMINER),
            _DETERMINER,
        )  # fmt: skip

    def _tick(self) -> dt.datetime:
        self.at += dt.timedelta(milliseconds=3)
        return self.at

    def household(self, i: int) -> dict[str, Any]:
        h = copy.copy(self.pool[i % len(self.pool)])
        h["kk_number"] = h["kk_number"][:6] + f"{i:010d}"
        return h

    def proposal(
        self, pid: str, household: dict[str, Any] | None, kind: ProposalKind, *, returned: bool,
        target: str | None = None, reason: DeactivationReason | None = None,
    ) -> Iterator[Record]:  # fmt: skip
        """One proposal from entry to the Ministry's acceptance (batch ratifications come separately)."""
        village = household["village_code"] if household else "17.71.01.1001"
        v = VERIFICATION_EVENTS.name
        common: dict[str, Any] = {"proposal_id": pid, "village_code": village}
        yield Record(v, *self.checked.make(self._tick(), round=1, stage="entry", **common))
        rnd = 1
        if returned:
            yield Record(v, *self.returned.make(self._tick(), 2, round=1, **common))
            rnd = 2
            yield Record(v, *self.checked.make(self._tick(), 3, round=2, stage="entry", **common))
        for n, tier in enumerate((Tier.DISTRICT, Tier.REGENCY, Tier.RATIFICATION, Tier.PROVINCE)):
            extra = (
                {"batch_id": f"b-{pid}", "decree_number": "7/SK/2026"} if tier is Tier.RATIFICATION else {}
            )
            actor = _TIER_ACTORS[tier]
            yield Record(v, *self.verified.make(self._tick(), n + 2, round=rnd, tier=tier.value,
                                                verifier=actor.model_dump(mode="json"), **extra, **common))  # fmt: skip
        yield Record(v, *self.checked.make(self._tick(), 7, round=rnd, stage="ministry", **common))
        yield Record(v, *self.accepted.make(
            self._tick(), 8, round=rnd, kind=kind.value, household=household, target_household_id=target,
            deactivation_reason=reason.value if reason else None, programs_requested=["PKH"],
            accepted_at=self.at.isoformat().replace("+00:00", "Z"), **common))  # fmt: skip

    def batch(self, n: int, pids: list[str]) -> Record:
        key, value = self.ratified.make(self._tick(), batch_id=f"batch-{n}", proposal_ids=pids)
        return Record(VERIFICATION_EVENTS.name, key, value)

    def household_event(self, template: _Template, version: int, **payload: Any) -> Record:
        key, value = template.make(self._tick(), version, **payload)
        return Record(REGISTRY_EVENTS.name, key, value)

    def decree(self, number: str, quarter: int, lists: dict[str, Any]) -> Record:
        at = self._tick().isoformat().replace("+00:00", "Z")
        key, value = self.determination.make(
            self._tick(), decree_number=number, period={"year": 2026, "quarter": quarter}, cut_off=at,
            issued_at=at, **lists)  # fmt: skip
        return Record(REGISTRY_EVENTS.name, key, value)


def stream(
    events: int, start: dt.datetime, hash_algorithm: str = REGISTER_HASH_ALGORITHM
) -> Iterator[Record]:
    """About ``events`` records (at least that many) over three quarters; see the module docstring.
    ``hash_algorithm``: what the decrees name (their hashes are placeholders either way)."""
    b = StreamBuilder(start, hash_algorithm)
    households = max(10, round(events / EVENTS_PER_HOUSEHOLD))
    quarters = [range(0, households * 2 // 5), range(households * 2 // 5, households * 7 // 10),
                range(households * 7 // 10, households)]  # fmt: skip
    versions: dict[str, int] = {}  # household id -> version of its stream
    snapshots: dict[str, dict[str, Any]] = {}
    batches = 0
    for q, members in enumerate(quarters, start=1):
        accepted: list[tuple[str, str, dict[str, Any]]] = []
        upkeep: list[tuple[str, str, str, dict[str, Any] | None]] = []  # (kind, pid, household id, snapshot)
        pids: list[str] = []
        if q >= 2:  # corrections and deactivations of households determined earlier
            for n, hid in enumerate(list(snapshots)[: len(members) // 5]):
                if n % 4 == 0 and len(upkeep) < len(members) // 20 + len(members) // 50:
                    kind = "deactivation" if n % 8 == 0 else "correction"
                    pid = f"q{q}-u{n}"
                    fixed = None
                    if kind == "correction":
                        fixed = {**snapshots[hid], "household_id": None,
                                 "address": {**snapshots[hid]["address"], "rt": "009"}}  # fmt: skip
                    yield from b.proposal(pid, fixed, ProposalKind(kind), returned=False, target=hid,
                                          reason=DeactivationReason.MOVED_AWAY if fixed is None else None)  # fmt: skip
                    upkeep.append((kind, pid, hid, fixed))
                    pids.append(pid)
        for i in members:
            pid = f"q{q}-p{i}"
            household = b.household(i)
            yield from b.proposal(pid, household, ProposalKind.NEW_HOUSEHOLD, returned=i % 10 == 3)
            accepted.append((pid, household_id_for(pid), household))
            pids.append(pid)
            if len(pids) >= BATCH:
                batches += 1
                yield b.batch(batches, pids)
                pids = []
        if pids:
            batches += 1
            yield b.batch(batches, pids)
        if q == 3:
            break  # the third quarter waits for its decree: the candidates
        decree = f"{q}/HUK/2026"
        lists: dict[str, list[str]] = {"registered": [], "corrected": [], "deactivated": []}
        for pid, hid, household in accepted:
            snapshot = {**household, "household_id": hid}
            snapshots[hid] = snapshot
            versions[hid] = 1
            yield b.household_event(b.registered, 1, household_id=hid, decree_number=decree, household=snapshot,
                                    proposal_id=pid)  # fmt: skip
            lists["registered"].append(hid)
        for _kind, pid, hid, fixed in upkeep:
            versions[hid] += 1
            if fixed is None:
                yield b.household_event(b.deactivated, versions[hid], household_id=hid, decree_number=decree,
                                        kk_number=snapshots[hid]["kk_number"], proposal_id=pid)  # fmt: skip
                lists["deactivated"].append(hid)
                del snapshots[hid]
            else:
                snapshot = {**fixed, "household_id": hid}
                snapshots[hid] = snapshot
                yield b.household_event(b.corrected, versions[hid], household_id=hid, decree_number=decree,
                                        household=snapshot, proposal_id=pid)  # fmt: skip
                lists["corrected"].append(hid)
        yield b.decree(decree, q, {k: sorted(v) for k, v in lists.items()})
