"""A family as a register record: the contracts' `Household`, with plausible circumstances.

Circumstances (housing, assets, income, education, occupation) follow the family's welfare rank:
poorer families live on earth floors under zinc or thatch and cook on firewood or the 3 kg gas
cylinder, richer ones on ceramic floors with larger electricity connections. They are drawn from a
generator seeded by the population's seed and the KK number, so they are the same every time the
family is turned into a household, whichever path asked for it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any, Final

from dtks_contracts.household import Household
from dtks_contracts.vocabulary.household_attributes import (
    ChronicIllness,
    CookingFuel,
    DisabilityType,
    DrinkingWaterSource,
    EducationLevel,
    FloorMaterial,
    IncomeBand,
    LightingSource,
    MaritalStatus,
    RelationToHead,
    RoofMaterial,
    Sanitation,
    Sex,
    TenureStatus,
    WallMaterial,
)
from dtks_contracts.vocabulary.programs import Program
from dtks_synthetic.names import ADULT_OCCUPATIONS
from dtks_synthetic.population import Family, Person

WELFARE_SOURCE: Final = "BPS DTSEN"
_DAYS_PER_YEAR: Final = 365.2425


def household_id_of(family: Family) -> str:
    """The register id of a registered family: a UUID fixed by the seed and the KK number."""
    rng = random.Random(f"{family.seed}:{family.kk_number}:household_id")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def family_household(family: Family, *, registered: bool, living_only: bool = False) -> Household:
    """The family as a register record.

    `registered=True` gives the record as it stands in the register: household id, the programs it
    receives and its welfare decile, and every member as registered (including any who died since,
    which is what corrections are for). `registered=False` gives a new household as a village
    would propose it: no id, no programs received, no decile. `living_only` drops the dead.
    """
    return Household.model_validate(household_dict(family, registered=registered, living_only=living_only))


def household_dict(family: Family, *, registered: bool, living_only: bool = False) -> dict[str, Any]:
    """The same as `family_household`, as the plain dict the model is validated from."""
    rng = random.Random(f"{family.seed}:{family.kk_number}:household")
    rank = family.welfare_rank
    people = family.living if living_only else family.members
    spouse_present = any(p.relation is RelationToHead.SPOUSE for p in people)
    members = [_member(rng, p, family.as_of, rank, spouse_present) for p in people]
    housing = _housing(rng, rank)
    household: dict[str, Any] = {
        "kk_number": family.kk_number,
        "address": {"street": family.street, "rt": family.rt, "rw": family.rw},
        "village_code": family.village_code,
        "members": members,
        "housing": housing,
        "assets": _assets(rng, rank),
        "income_band": _income_band(rng, rank),
    }
    if rng.random() < 0.75:
        household["contact"] = {"phone": f"+628{rng.randrange(10**9, 10**10)}", "consent": True}
    if registered:
        household["household_id"] = household_id_of(family)
        household["programs"] = sorted(programs_for(family, people, housing["electricity_capacity_va"]))
        household["welfare_decile"] = {
            "decile": min(10, int(rank * 10) + 1),
            "source": WELFARE_SOURCE,
            "as_of": (family.as_of - dt.timedelta(days=90)).isoformat(),
        }
    return household


def programs_for(family: Family, people: tuple[Person, ...], electricity_va: int | None) -> set[str]:
    """Programs a household of this rank and composition plausibly receives or asks for."""
    rank = family.welfare_rank
    ages = [age_on(p.birth_date, family.as_of) for p in people]
    programs: set[str] = set()
    if rank < 0.4:
        programs.add(Program.PBI_JK)
    if rank < 0.3:
        programs.add(Program.BPNT)
        if any(a < 18 or a >= 60 for a in ages):
            programs.add(Program.PKH)
        if any(6 <= a <= 18 for a in ages):
            programs.add(Program.PIP)
    if electricity_va in (450, 900) and rank < 0.4:
        programs.add(Program.ELECTRICITY_SUBSIDY)
    return programs


def _member(
    rng: random.Random, p: Person, as_of: dt.date, rank: float, spouse_present: bool
) -> dict[str, Any]:
    age = age_on(p.birth_date, as_of)
    attending = 7 <= age <= 18 and rng.random() < 0.92
    return {
        "nik": p.nik,
        "name": p.name,
        "birth_date": p.birth_date.isoformat(),
        "sex": p.sex.value,
        "relation_to_head": p.relation.value,
        "marital_status": _marital(rng, p, age, spouse_present),
        "education": _education(rng, age, rank),
        "attending_school": attending,
        "occupation": _occupation(rng, p, age, attending),
        "disability": _pick(
            rng, [(0.97, DisabilityType.NONE)], DisabilityType.PHYSICAL, DisabilityType.SENSORY_SIGHT
        ),
        "chronic_illness": _illness(rng, age),
    }


def _pick(rng: random.Random, usual: list[tuple[float, Any]], *rest: Any) -> str:
    """The usual value with its probability, otherwise one of `rest` uniformly."""
    r = rng.random()
    for probability, value in usual:
        if r < probability:
            return str(value)
        r -= probability
    return str(rng.choice(rest))


def _marital(rng: random.Random, p: Person, age: int, spouse_present: bool) -> str:
    if p.relation in (RelationToHead.HEAD, RelationToHead.SPOUSE) and spouse_present:
        return MaritalStatus.MARRIED
    if p.relation is RelationToHead.HEAD:
        if age < 25:
            return MaritalStatus.SINGLE
        return MaritalStatus.WIDOWED if rng.random() < 0.6 else MaritalStatus.DIVORCED
    if p.relation is RelationToHead.PARENT:
        return MaritalStatus.WIDOWED
    return MaritalStatus.SINGLE


def _education(rng: random.Random, age: int, rank: float) -> str:
    if age < 13:
        return EducationLevel.NO_CERTIFICATE if age < 7 or rng.random() < 0.9 else EducationLevel.PRIMARY
    if age < 16:
        return EducationLevel.PRIMARY
    if age < 19:
        return EducationLevel.JUNIOR_SECONDARY
    ladder = (
        EducationLevel.NO_CERTIFICATE,
        EducationLevel.PRIMARY,
        EducationLevel.JUNIOR_SECONDARY,
        EducationLevel.SENIOR_SECONDARY,
        EducationLevel.DIPLOMA,
        EducationLevel.BACHELOR,
        EducationLevel.POSTGRADUATE,
    )
    # Richer and younger adults climb further; the ladder index is a noisy function of both.
    step = rank * 4.5 + (1.0 if age < 45 else 0.0) + rng.gauss(0, 1)
    return ladder[max(0, min(len(ladder) - 1, int(step)))]


def _occupation(rng: random.Random, p: Person, age: int, attending: bool) -> str:
    if attending:
        return "pelajar"
    if age < 15:
        return "belum bekerja"
    if age >= 70:
        return "tidak bekerja"
    if p.relation is RelationToHead.SPOUSE and p.sex is Sex.FEMALE and rng.random() < 0.6:
        return "mengurus rumah tangga"
    return rng.choice(ADULT_OCCUPATIONS)


def _illness(rng: random.Random, age: int) -> str:
    risk = 0.02 if age < 40 else (0.12 if age < 60 else 0.3)
    if rng.random() >= risk:
        return ChronicIllness.NONE
    return rng.choice(
        (
            ChronicIllness.HYPERTENSION,
            ChronicIllness.DIABETES,
            ChronicIllness.RHEUMATISM,
            ChronicIllness.ASTHMA,
        )
    )


def _tier(rank: float) -> int:
    return 0 if rank < 0.3 else (1 if rank < 0.7 else 2)


_FLOORS: Final = (
    (
        FloorMaterial.EARTH,
        FloorMaterial.BAMBOO,
        FloorMaterial.WOOD_LOW_QUALITY,
        FloorMaterial.CEMENT_RED_BRICK,
    ),
    (FloorMaterial.CEMENT_RED_BRICK, FloorMaterial.TILE_TERRAZZO, FloorMaterial.CERAMIC),
    (FloorMaterial.CERAMIC, FloorMaterial.MARBLE_GRANITE, FloorMaterial.PARQUET_VINYL_CARPET),
)
_WALLS: Final = (
    (WallMaterial.WOVEN_BAMBOO, WallMaterial.WOOD, WallMaterial.PLASTERED_WOVEN_BAMBOO, WallMaterial.BAMBOO),
    (WallMaterial.MASONRY, WallMaterial.WOOD, WallMaterial.PLASTERED_WOVEN_BAMBOO),
    (WallMaterial.MASONRY,),
)
_ROOFS: Final = (
    (RoofMaterial.ZINC, RoofMaterial.THATCH, RoofMaterial.ASBESTOS),
    (RoofMaterial.ZINC, RoofMaterial.CLAY_TILE, RoofMaterial.METAL_TILE, RoofMaterial.ASBESTOS),
    (RoofMaterial.METAL_TILE, RoofMaterial.CERAMIC_TILE, RoofMaterial.CONCRETE),
)
_WATER: Final = (
    (DrinkingWaterSource.UNPROTECTED_WELL, DrinkingWaterSource.PROTECTED_WELL, DrinkingWaterSource.REFILL),
    (DrinkingWaterSource.REFILL, DrinkingWaterSource.PIPED_METERED, DrinkingWaterSource.BOREHOLE_PUMP),
    (DrinkingWaterSource.BOTTLED, DrinkingWaterSource.PIPED_METERED),
)
_SANITATION: Final = (
    (Sanitation.SHARED_TOILET, Sanitation.PRIVATE_TOILET_NO_SEPTIC_TANK, Sanitation.NONE),
    (Sanitation.PRIVATE_TOILET_SEPTIC_TANK, Sanitation.PRIVATE_TOILET_NO_SEPTIC_TANK),
    (Sanitation.PRIVATE_TOILET_SEPTIC_TANK,),
)
_FUEL: Final = (
    (CookingFuel.LPG_3KG, CookingFuel.FIREWOOD, CookingFuel.KEROSENE),
    (CookingFuel.LPG_3KG,),
    (CookingFuel.LPG_ABOVE_3KG, CookingFuel.ELECTRICITY, CookingFuel.LPG_3KG),
)
_VA: Final = ((450, 900), (900, 1300), (1300, 2200, 3500))
_AREA: Final = ((15, 36), (30, 70), (60, 160))
_TENURE: Final = (
    (TenureStatus.OWNED, TenureStatus.RENT_FREE, TenureStatus.RENTED),
    (TenureStatus.OWNED, TenureStatus.RENTED),
    (TenureStatus.OWNED,),
)


def _housing(rng: random.Random, rank: float) -> dict[str, Any]:
    t = _tier(rank)
    lighting = LightingSource.PLN_UNMETERED if t == 0 and rng.random() < 0.2 else LightingSource.PLN_METERED
    low, high = _AREA[t]
    return {
        "tenure": rng.choice(_TENURE[t]).value,
        "floor_material": rng.choice(_FLOORS[t]).value,
        "wall_material": rng.choice(_WALLS[t]).value,
        "roof_material": rng.choice(_ROOFS[t]).value,
        "floor_area_m2": float(rng.randint(low, high)),
        "drinking_water": rng.choice(_WATER[t]).value,
        "lighting": lighting.value,
        "electricity_capacity_va": rng.choice(_VA[t]),
        "sanitation": rng.choice(_SANITATION[t]).value,
        "cooking_fuel": rng.choice(_FUEL[t]).value,
    }


def _assets(rng: random.Random, rank: float) -> dict[str, Any]:
    def has(probability: float) -> bool:
        return rng.random() < probability

    return {
        "lpg_cylinder_5kg_or_more": has(rank * 0.8),
        "refrigerator": has(0.2 + rank * 0.7),
        "air_conditioner": has(max(0.0, rank - 0.6)),
        "water_heater": has(max(0.0, rank - 0.7)),
        "landline_phone": has(0.02 + rank * 0.1),
        "television": has(0.6 + rank * 0.35),
        "computer": has(rank * 0.5),
        "gold_or_savings_10g": has(rank * 0.6),
        "bicycles": rng.randint(0, 2),
        "motorcycles": rng.randint(0, 1) + (rng.randint(0, 2) if rank > 0.3 else 0),
        "cars": rng.randint(0, 1) if rank > 0.8 else 0,
        "boats": 0,
        "motorboats": 0,
        "land_m2": float(rng.choice((0, 0, 0, 250, 500, 1000)) if rank > 0.2 else 0),
        "other_house": has(max(0.0, rank - 0.75)),
        "cattle": rng.choice((0, 0, 0, 1, 2)) if rank < 0.6 else 0,
        "buffalo": 0,
        "horses": 0,
        "pigs": 0,
        "goats_sheep": rng.choice((0, 0, 0, 2, 4)),
    }


def _income_band(rng: random.Random, rank: float) -> str:
    noisy = min(0.999, max(0.0, rank + rng.gauss(0, 0.05)))
    bands = (
        (0.2, IncomeBand.BELOW_1M),
        (0.45, IncomeBand.FROM_1M_TO_2M),
        (0.7, IncomeBand.FROM_2M_TO_3M),
        (0.9, IncomeBand.FROM_3M_TO_5M),
    )
    return next((b.value for limit, b in bands if noisy < limit), IncomeBand.FROM_5M.value)
