"""The people of one real regency: families with family cards, spread over its real villages.

Everything is drawn from `random.Random` instances seeded from the population's seed and a label
(the village code, the KK number), never from the global generator or the clock, so the same seed
gives the same people, byte for byte. Families are generated lazily, village by village, so a
million people stream through in seconds without being held in memory; iterating twice generates
them twice, identically.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from dtks_contracts.regions import children, population, region_level
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex
from dtks_synthetic.identities import SerialBook, district_prefix, issue_kk_number, issue_nik
from dtks_synthetic.names import FEMALE_GIVEN, MALE_GIVEN, SECOND_NAMES, STREETS

DEFAULT_AS_OF: Final = dt.date(2026, 11, 1)
DEFAULT_REGISTER_SHARE: Final = 0.4
FAMILY_MOVE_RATE: Final = 0.015  # families that moved away within the last 18 months
_RECENT_DAYS: Final = 540  # deaths and moves fall within this many days before `as_of`
_DAYS_PER_YEAR: Final = 365.2425
_EARLIEST_KK: Final = dt.date(1995, 1, 1).toordinal()

# Children living at home, 0..5; the mean (about 1.8) with heads, spouses and the odd parent or
# grandchild gives households of about 3.7 people, near the national figure.
_CHILD_COUNTS: Final = (0, 1, 2, 3, 4, 5)
_CHILD_WEIGHTS: Final = (18, 22, 28, 18, 9, 5)


@dataclass(frozen=True, slots=True)
class Person:
    nik: str
    name: str
    birth_date: dt.date
    sex: Sex
    relation: RelationToHead
    died_on: dt.date | None = None

    @property
    def alive(self) -> bool:
        return self.died_on is None


@dataclass(frozen=True, slots=True)
class Family:
    """One family card (KK): its members as the civil registry knows them, and where they live."""

    kk_number: str
    village_code: str
    street: str
    rt: str
    rw: str
    members: tuple[Person, ...]
    welfare_rank: float  # 0 = poorest, 1 = richest; decides register membership, housing, income
    seed: int  # the population's seed: household attributes are drawn lazily from it
    as_of: dt.date
    moved_to: str | None = None  # the village the whole family moved to
    moved_on: dt.date | None = None

    @property
    def district_code(self) -> str:
        return self.village_code.rpartition(".")[0]

    @property
    def head(self) -> Person:
        return next(p for p in self.members if p.relation is RelationToHead.HEAD)

    @property
    def living(self) -> tuple[Person, ...]:
        return tuple(p for p in self.members if p.alive)

    @property
    def unchanged(self) -> bool:
        """Everyone alive and still at the address: a clean candidate for a new-household proposal."""
        return self.moved_to is None and all(p.alive for p in self.members)

    def in_register(self, share: float) -> bool:
        """The poorest `share` of families are the ones already in the register."""
        return self.welfare_rank < share


@dataclass(frozen=True, slots=True)
class CivilRegistryRecord:
    """One person as the civil registry (Dukcapil) holds them: what the simulator is loaded with.

    `address` is the street line (e.g. "Jl. Merapi No. 12"); `rt`/`rw` are the neighbourhood and
    community units, kept apart as Dukcapil does. `moved_to` is the village code the person moved to.
    `relation_to_head` is the person's place on the family card (Dukcapil's SHDK).
    """

    nik: str
    name: str
    birth_date: dt.date
    sex: str
    kk_number: str
    address: str
    rt: str
    rw: str
    village_code: str
    alive: bool
    died_on: dt.date | None
    moved_to: str | None
    moved_on: dt.date | None
    relation_to_head: str

    def to_json(self) -> dict[str, Any]:
        return {
            "nik": self.nik,
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "kk_number": self.kk_number,
            "address": self.address,
            "rt": self.rt,
            "rw": self.rw,
            "village_code": self.village_code,
            "alive": self.alive,
            "died_on": self.died_on.isoformat() if self.died_on else None,
            "moved_to": self.moved_to,
            "moved_on": self.moved_on.isoformat() if self.moved_on else None,
            "relation_to_head": self.relation_to_head,
        }


def villages_of(region_code: str) -> tuple[str, ...]:
    """Every village under a region (or the village itself), sorted by code."""
    if region_level(region_code) == "village":
        return (region_code,)
    out: list[str] = []
    for child in children(region_code):
        out.extend(villages_of(child))
    return tuple(out)


@dataclass(frozen=True)
class Population:
    """A lazily generated population; every iterator regenerates it from the seed, identically."""

    regency_code: str
    people: int
    seed: int
    as_of: dt.date = DEFAULT_AS_OF
    register_share: float = DEFAULT_REGISTER_SHARE
    villages: tuple[str, ...] = field(default=(), repr=False)

    def village_quotas(self) -> list[tuple[str, int]]:
        """How many people live in each village: uneven weights, summing exactly to `people`."""
        rng = random.Random(f"{self.seed}:{self.regency_code}:plan")
        weights = [rng.uniform(0.4, 1.6) for _ in self.villages]
        total = sum(weights)
        shares = [self.people * w / total for w in weights]
        quotas = [int(s) for s in shares]
        # Largest remainder, ties broken by position, so the sum is exact and deterministic.
        by_remainder = sorted(range(len(shares)), key=lambda i: (quotas[i] - shares[i], i))
        for i in by_remainder[: self.people - sum(quotas)]:
            quotas[i] += 1
        return list(zip(self.villages, quotas, strict=True))

    def families(self) -> Iterator[Family]:
        niks, kks = SerialBook(), SerialBook()
        movers = _MoveTargets(self.regency_code, self.villages)
        for village, quota in self.village_quotas():
            yield from _village_families(self, village, quota, niks, kks, movers)

    def persons(self) -> Iterator[tuple[Family, Person]]:
        for family in self.families():
            for person in family.members:
                yield family, person

    def civil_registry_records(self) -> Iterator[CivilRegistryRecord]:
        for family in self.families():
            for p in family.members:
                yield CivilRegistryRecord(
                    nik=p.nik,
                    name=p.name,
                    birth_date=p.birth_date,
                    sex=p.sex.value,
                    kk_number=family.kk_number,
                    address=family.street,
                    rt=family.rt,
                    rw=family.rw,
                    village_code=family.village_code,
                    alive=p.died_on is None,
                    died_on=p.died_on,
                    moved_to=family.moved_to,
                    moved_on=family.moved_on,
                    relation_to_head=p.relation.value,
                )


def generate_population(
    regency_code: str = "17.71",
    people: int | None = None,
    seed: int = 1,
    *,
    as_of: dt.date = DEFAULT_AS_OF,
    register_share: float = DEFAULT_REGISTER_SHARE,
) -> Population:
    """The population of a real regency (or any region), by default as many people as really live there.

    Nothing is generated until an iterator is consumed (`families()`, `civil_registry_records()`).
    `as_of` is the generator's "today": ages, deaths and moves are counted back from it.
    """
    villages = villages_of(regency_code)
    if not villages:
        raise ValueError(f"region {regency_code} has no villages in the region list")
    size = population(regency_code).total if people is None else people
    if size < 0:
        raise ValueError(f"people must be zero or more, got {size}")
    if not 0 <= register_share <= 1:
        raise ValueError(f"register_share must lie between 0 and 1, got {register_share}")
    return Population(regency_code, size, seed, as_of, register_share, villages)


class _MoveTargets:
    """Where movers go: mostly another village of the same regency, sometimes a neighbouring regency."""

    def __init__(self, regency_code: str, villages: tuple[str, ...]) -> None:
        self._home = villages
        province = regency_code.split(".")[0]
        self._regencies = tuple(r for r in children(province) if not regency_code.startswith(r))

    def pick(self, rng: random.Random, current: str) -> str:
        if self._regencies and rng.random() < 0.3:
            for _ in range(5):  # a regency without villages in the list is skipped
                districts = children(rng.choice(self._regencies))
                if districts and (villages := children(rng.choice(districts))):
                    return rng.choice(villages)
        others = [v for v in self._home if v != current] or [current]
        return rng.choice(others)


def _age_days(rng: random.Random, age_years: int) -> int:
    return int((age_years + rng.random()) * _DAYS_PER_YEAR)


def _village_families(
    pop: Population, village: str, quota: int, niks: SerialBook, kks: SerialBook, movers: _MoveTargets
) -> Iterator[Family]:
    rng = random.Random(f"{pop.seed}:{village}")
    prefix = district_prefix(village.rpartition(".")[0])
    today = pop.as_of.toordinal()
    left = quota
    while left > 0:
        plan = _plan_family(rng)[:left]  # the last family of a village may be cut short
        left -= len(plan)
        second = rng.choice(SECOND_NAMES)
        father_second = second if plan[0][1] is Sex.MALE else rng.choice(SECOND_NAMES)
        members = []
        for relation, sex, age in plan:
            birth = dt.date.fromordinal(today - max(1, _age_days(rng, age)))
            nik, birth = issue_nik(niks, prefix, birth, sex is Sex.FEMALE)
            given = rng.choice(MALE_GIVEN if sex is Sex.MALE else FEMALE_GIVEN)
            if relation is RelationToHead.HEAD:
                surname = second
            elif relation in (RelationToHead.CHILD, RelationToHead.GRANDCHILD) and rng.random() < 0.5:
                surname = father_second
            else:
                surname = rng.choice(SECOND_NAMES)
            members.append(
                Person(nik, f"{given} {surname}", birth, sex, relation, _death(rng, age, birth, today))
            )
        head_birth = members[0].birth_date.toordinal()
        issued = rng.randint(max(head_birth + 17 * 365, _EARLIEST_KK), today - 1)
        kk = issue_kk_number(kks, prefix, dt.date.fromordinal(issued))
        moved_to = moved_on = None
        if rng.random() < FAMILY_MOVE_RATE:
            moved_to = movers.pick(rng, village)
            moved_on = dt.date.fromordinal(today - rng.randrange(1, _RECENT_DAYS))
        yield Family(
            kk_number=kk,
            village_code=village,
            street=f"{rng.choice(STREETS)} No. {rng.randint(1, 150)}",
            rt=f"{rng.randint(1, 15):03d}",
            rw=f"{rng.randint(1, 8):03d}",
            members=tuple(members),
            welfare_rank=rng.random(),
            seed=pop.seed,
            as_of=pop.as_of,
            moved_to=moved_to,
            moved_on=moved_on,
        )


def _death(rng: random.Random, age: int, birth: dt.date, today: int) -> dt.date | None:
    # Recent deaths only (the register lags the civil registry by months, not decades).
    rate = 0.003 if age < 60 else (0.03 if age < 75 else 0.08)
    if rng.random() >= rate:
        return None
    return dt.date.fromordinal(max(today - rng.randrange(1, _RECENT_DAYS), birth.toordinal() + 1))


def _plan_family(rng: random.Random) -> list[tuple[RelationToHead, Sex, int]]:
    """(relation, sex, age in years) of each member, head first."""
    head_age = int(rng.triangular(20, 86, 38))
    head_sex = Sex.FEMALE if rng.random() < 0.12 else Sex.MALE
    plan = [(RelationToHead.HEAD, head_sex, head_age)]
    # Without a wife in the house, a father's children are dated by a late or divorced wife of about his age.
    mother_age = head_age if head_sex is Sex.FEMALE else head_age - 3
    married = rng.random() < ((0.85 if head_age < 65 else 0.55) if head_sex is Sex.MALE else 0.1)
    if married:
        if head_sex is Sex.MALE:
            spouse_age = max(18, head_age + rng.randint(-8, 3))
            mother_age = spouse_age
            plan.append((RelationToHead.SPOUSE, Sex.FEMALE, spouse_age))
        else:
            plan.append((RelationToHead.SPOUSE, Sex.MALE, max(18, head_age + rng.randint(-3, 8))))
    youngest, oldest = max(0, mother_age - 45), min(mother_age - 17, 35)
    if oldest >= youngest:
        for _ in range(rng.choices(_CHILD_COUNTS, _CHILD_WEIGHTS)[0]):
            plan.append((RelationToHead.CHILD, _sex(rng), rng.randint(youngest, oldest)))
    if head_age < 60 and rng.random() < 0.07:
        parent_sex = Sex.FEMALE if rng.random() < 0.65 else Sex.MALE
        plan.append((RelationToHead.PARENT, parent_sex, min(95, head_age + rng.randint(20, 35))))
    if head_age >= 50 and rng.random() < 0.15:
        for _ in range(rng.randint(1, 2)):
            plan.append((RelationToHead.GRANDCHILD, _sex(rng), rng.randint(0, 12)))
    return plan


def _sex(rng: random.Random) -> Sex:
    return Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
