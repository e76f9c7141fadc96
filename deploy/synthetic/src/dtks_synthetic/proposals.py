"""Proposals as a village operator's client would send them to `POST /proposals`.

Body of a new household (the proposal service's public contract, issue 4; field names of the
nested objects are the contracts models' own, dumped with `model_dump(mode="json")`):

    {"proposal_id": "<uuid>", "kind": "new_household", "village_code": "17.71.01.1001",
     "deliberation": {"kind": "muskel", "date": "2026-10-20", "minutes_ref": "BA-07/MUSKEL/X/2026"},
     "household": <Household>, "programs": ["BPNT", "PBI_JK", "PKH"]}

A correction adds "household_id" (the registered household) and carries the full corrected
household; a deactivation carries "household_id", "reason" (a DeactivationReason value) and
"evidence_note", and no household.

Selection is by reservoir sampling over one pass of the population, so even a million people
are read once and only the chosen families are kept.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from dtks_contracts.household import Deliberation, Household
from dtks_contracts.vocabulary.household_attributes import RelationToHead
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, DeliberationKind, ProposalKind
from dtks_synthetic.faults import Fault, UnknownNiks, apply_fault
from dtks_synthetic.households import age_on, family_household, household_id_of
from dtks_synthetic.population import Family, Population

_ROMAN: Final = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
# New households are mostly the near-poor just above the register's line (the exclusion error
# the deliberations are meant to fix); richer families are used only if those run out.
_NEAR_POOR_BAND: Final = 0.3

T = TypeVar("T")


@dataclass(frozen=True)
class GeneratedProposal:
    """A proposal body with what it was made from.

    `household`: the clean household the body was derived from (new household: the proposed one
    before any fault; correction: the corrected one; deactivation: the registered one).
    `original`: for corrections, the household as registered. `detail`: what a fault changed, or
    why a correction or deactivation is needed.
    """

    body: dict[str, Any]
    fault: Fault | None
    household: Household
    detail: str | None = None
    original: Household | None = None

    @property
    def proposal_id(self) -> str:
        return str(self.body["proposal_id"])

    @property
    def kind(self) -> ProposalKind:
        return ProposalKind(self.body["kind"])


class _Reservoir(Generic[T]):
    """A uniform sample of `size` items from a stream of unknown length, in stream order."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self._size, self._rng = size, rng
        self._items: list[tuple[int, T]] = []
        self.seen = 0

    def offer(self, item: T) -> None:
        self.seen += 1
        if len(self._items) < self._size:
            self._items.append((self.seen, item))
        elif (j := self._rng.randrange(self.seen)) < self._size:
            self._items[j] = (self.seen, item)

    def items(self) -> list[T]:
        return [item for _, item in sorted(self._items, key=lambda pair: pair[0])]


def _pick(
    population: Population,
    rng: random.Random,
    count: int,
    pools: list[Callable[[Family], bool]],
    village_code: str | None,
) -> list[Family]:
    """`count` families, drawn from the first pool, then the next ones if the first runs short."""
    reservoirs = [_Reservoir[Family](count, rng) for _ in pools]
    for family in population.families():
        if village_code is not None and family.village_code != village_code:
            continue
        for accepts, reservoir in zip(pools, reservoirs, strict=True):
            if accepts(family):
                reservoir.offer(family)
                break
    chosen: list[Family] = []
    for reservoir in reservoirs:
        chosen += reservoir.items()[: count - len(chosen)]
    if len(chosen) < count:
        where = f"village {village_code}" if village_code else f"region {population.regency_code}"
        raise ValueError(
            f"only {len(chosen)} suitable families in {where} of a {population.people}-person population; "
            f"asked for {count}: generate more people"
        )
    return chosen


def deliberation_for(village_code: str, rng: random.Random, as_of: dt.date) -> Deliberation:
    """The meeting that agreed the proposal: muskel in an urban village (codes 1xxx), musdes in a village."""
    kind = (
        DeliberationKind.MUSKEL if village_code.rsplit(".", 1)[1].startswith("1") else DeliberationKind.MUSDES
    )
    held = as_of - dt.timedelta(days=rng.randint(3, 30))
    ref = f"BA-{rng.randint(1, 20):02d}/{kind.value.upper()}/{_ROMAN[held.month - 1]}/{held.year}"
    return Deliberation(kind=kind, date=held, minutes_ref=ref)


def requested_programs(household: Household, as_of: dt.date) -> list[str]:
    """Programs a poor household of this composition would ask for."""
    ages = [age_on(m.birth_date, as_of) for m in household.members]
    programs = {Program.BPNT.value, Program.PBI_JK.value}
    if any(a < 18 or a >= 60 for a in ages):
        programs.add(Program.PKH.value)
    if any(6 <= a <= 18 for a in ages):
        programs.add(Program.PIP.value)
    return sorted(programs)


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _envelope(rng: random.Random, kind: ProposalKind, village: str, as_of: dt.date) -> dict[str, Any]:
    return {
        "proposal_id": _new_id(rng),
        "kind": kind.value,
        "village_code": village,
        "deliberation": deliberation_for(village, rng, as_of).model_dump(mode="json"),
    }


def proposals(
    population: Population,
    count: int,
    faults: Mapping[Fault, int] | None = None,
    seed: int = 1,
    *,
    village_code: str | None = None,
) -> list[GeneratedProposal]:
    """`count` new-household proposals for families not in the register (alive, not moved), of which
    `faults[f]` carry fault `f` (the rest are clean). Optionally all in one village."""
    wanted = {Fault(f): n for f, n in (faults or {}).items() if n}
    if any(n < 0 for n in wanted.values()) or sum(wanted.values()) > count:
        raise ValueError(f"faults {wanted} must be non-negative and add up to at most count={count}")
    rng = random.Random(f"proposals:{population.seed}:{seed}")
    share = population.register_share
    families = _pick(
        population,
        rng,
        count,
        [
            lambda f: f.unchanged and share <= f.welfare_rank < share + _NEAR_POOR_BAND,
            lambda f: f.unchanged and f.welfare_rank >= share,
        ],
        village_code,
    )
    assigned = _assign_faults(rng, families, wanted)
    registered_people = _registered_people(population, rng, wanted.get(Fault.DUPLICATE_PERSON, 0))
    unknown = UnknownNiks(rng)
    clean: list[GeneratedProposal] = []
    out: list[GeneratedProposal] = []
    for family, fault in zip(families, assigned, strict=True):
        household = family_household(family, registered=False)
        body = _envelope(rng, ProposalKind.NEW_HOUSEHOLD, family.village_code, population.as_of)
        body["household"] = household.model_dump(mode="json")
        body["programs"] = requested_programs(household, population.as_of)
        generated = GeneratedProposal(body, None, household)
        out.append(generated)
        if fault is None:
            clean.append(generated)
    for i, fault in enumerate(assigned):
        if fault is None:
            continue
        duplicate = None
        if fault is Fault.DUPLICATE_PERSON:
            duplicate = registered_people.pop() if registered_people else _person_of_other(out, i)
        faulty, detail = apply_fault(fault, out[i].household, rng, unknown, duplicate)
        out[i] = GeneratedProposal({**out[i].body, "household": faulty}, fault, out[i].household, detail)
    return out


def _assign_faults(
    rng: random.Random, families: list[Family], wanted: Mapping[Fault, int]
) -> list[Fault | None]:
    """Which family carries which fault: faults that need two members go to families that have them."""
    assigned: list[Fault | None] = [None] * len(families)
    multi = [i for i, f in enumerate(families) if len(f.members) >= 2]
    rng.shuffle(multi)
    needing = [f for f in Fault if f.needs_two_members for _ in range(wanted.get(f, 0))]
    if len(needing) > len(multi):
        raise ValueError(f"{len(needing)} faults need families of two or more, only {len(multi)} chosen")
    for i, fault in zip(multi, needing, strict=False):
        assigned[i] = fault
    free = [i for i in range(len(families)) if assigned[i] is None]
    rng.shuffle(free)
    others = [f for f in Fault if not f.needs_two_members for _ in range(wanted.get(f, 0))]
    for i, fault in zip(free, others, strict=False):
        assigned[i] = fault
    return assigned


def _registered_people(population: Population, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Members (as JSON) of registered households, alive: the people a duplicate proposal repeats."""
    if count == 0:
        return []
    reservoir = _Reservoir[Family](count, rng)
    for family in population.families():
        if family.in_register(population.register_share) and family.unchanged:
            reservoir.offer(family)
    people = []
    for family in reservoir.items():
        member = family_household(family, registered=True).members[-1]
        people.append(member.model_dump(mode="json"))
    return people


def _person_of_other(out: list[GeneratedProposal], i: int) -> dict[str, Any]:
    """A member of another proposal of this batch (used when the register is empty)."""
    for j, other in enumerate(out):
        if j != i and other.fault is None:
            return other.household.members[-1].model_dump(mode="json")
    raise ValueError("DUPLICATE_PERSON needs a registered household or another clean proposal in the batch")


def corrections(
    population: Population, count: int, seed: int = 1, *, village_code: str | None = None
) -> list[GeneratedProposal]:
    """Corrections of registered households: first those where a member (not the head) has died,
    who is removed; then households whose circumstances changed (new housing and income)."""
    rng = random.Random(f"corrections:{population.seed}:{seed}")
    share = population.register_share

    def member_died(f: Family) -> bool:
        return f.in_register(share) and f.moved_to is None and f.head.alive and len(f.living) < len(f.members)

    families = _pick(
        population, rng, count, [member_died, lambda f: f.in_register(share) and f.unchanged], village_code
    )
    out = []
    for family in families:
        original = family_household(family, registered=True)
        if len(family.living) < len(family.members):
            dead = [p for p in family.members if not p.alive]
            corrected = family_household(family, registered=True, living_only=True)
            detail = "; ".join(f"member {p.nik} died on {p.died_on}" for p in dead)
        else:
            improved = family_household(family, registered=True).model_dump(mode="json")
            improved["housing"]["floor_material"] = "ceramic"
            improved["housing"]["wall_material"] = "masonry"
            improved["income_band"] = "2m_to_3m"
            corrected = Household.model_validate(improved)
            detail = "the household's housing and income improved"
        body = _envelope(rng, ProposalKind.CORRECTION, family.village_code, population.as_of)
        assert original.household_id is not None
        body["household_id"] = original.household_id
        body["household"] = corrected.model_dump(mode="json")
        body["programs"] = sorted(p.value for p in corrected.programs)
        out.append(GeneratedProposal(body, None, corrected, detail, original))
    return out


def deactivations(
    population: Population, count: int, seed: int = 1, *, village_code: str | None = None
) -> list[GeneratedProposal]:
    """Deactivations of registered households: everyone died, the family moved away, or (when
    those run out) the household is no longer eligible."""
    rng = random.Random(f"deactivations:{population.seed}:{seed}")
    share = population.register_share

    def all_died(f: Family) -> bool:
        return f.in_register(share) and not f.living

    def moved(f: Family) -> bool:
        return f.in_register(share) and f.moved_to is not None and bool(f.living)

    families = _pick(population, rng, count, [all_died, moved, lambda f: f.in_register(share)], village_code)
    out = []
    for family in families:
        registered = family_household(family, registered=True)
        if not family.living:
            reason = DeactivationReason.DIED
            note = f"every member died; last on {max(p.died_on for p in family.members if p.died_on)}"
        elif family.moved_to is not None:
            reason = DeactivationReason.MOVED_AWAY
            note = f"the family moved to {family.moved_to} on {family.moved_on} (civil registry)"
        else:
            reason = DeactivationReason.NO_LONGER_ELIGIBLE
            note = "field visit found a renovated masonry house and a regular salaried income"
        body = _envelope(rng, ProposalKind.DEACTIVATION, family.village_code, population.as_of)
        body["household_id"] = household_id_of(family)
        body["reason"] = reason.value
        body["evidence_note"] = note
        out.append(GeneratedProposal(body, None, registered, note))
    return out


def iter_new_household_bodies(population: Population, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Every unregistered, unchanged family as a clean new-household body, streamed (benchmarks)."""
    rng = random.Random(f"bodies:{population.seed}:{seed}")
    for family in population.families():
        if family.unchanged and not family.in_register(population.register_share):
            household = family_household(family, registered=False)
            body = _envelope(rng, ProposalKind.NEW_HOUSEHOLD, family.village_code, population.as_of)
            body["household"] = household.model_dump(mode="json")
            body["programs"] = requested_programs(household, population.as_of)
            yield body


def heads_of(household_json: Mapping[str, Any]) -> int:
    """How many members of a household body are marked head (helper for tests and checks)."""
    return sum(
        1 for m in household_json.get("members", ()) if m.get("relation_to_head") == RelationToHead.HEAD
    )
