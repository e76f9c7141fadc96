"""Categories of the household record, after the DTKS/Regsosek questionnaire.

Every category list ends in a catch-all (`other`, `none`) where the questionnaire has one, so that
field officers never have to force an answer. Values only ever get added (a removed value would
make old events unreadable; the schema check enforces that).
"""

from __future__ import annotations

from enum import StrEnum


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class RelationToHead(StrEnum):
    """Relation to the head of the family, as on the family card (KK)."""

    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    CHILD_IN_LAW = "child_in_law"
    GRANDCHILD = "grandchild"
    PARENT = "parent"
    PARENT_IN_LAW = "parent_in_law"
    OTHER_RELATIVE = "other_relative"
    HOUSEHOLD_HELPER = "household_helper"
    OTHER = "other"


class MaritalStatus(StrEnum):
    SINGLE = "single"  # belum kawin
    MARRIED = "married"  # kawin
    DIVORCED = "divorced"  # cerai hidup
    WIDOWED = "widowed"  # cerai mati


class EducationLevel(StrEnum):
    """Highest certificate held."""

    NO_CERTIFICATE = "no_certificate"
    PRIMARY = "primary"  # SD / MI / paket A
    JUNIOR_SECONDARY = "junior_secondary"  # SMP / MTs / paket B
    SENIOR_SECONDARY = "senior_secondary"  # SMA / SMK / MA / paket C
    DIPLOMA = "diploma"  # D1-D3
    BACHELOR = "bachelor"  # D4 / S1
    POSTGRADUATE = "postgraduate"  # S2 / S3


class DisabilityType(StrEnum):
    """Kinds of disability of Law 8/2016."""

    NONE = "none"
    PHYSICAL = "physical"
    INTELLECTUAL = "intellectual"
    MENTAL = "mental"
    SENSORY_SIGHT = "sensory_sight"
    SENSORY_HEARING = "sensory_hearing"
    SENSORY_SPEECH = "sensory_speech"
    MULTIPLE = "multiple"


class ChronicIllness(StrEnum):
    NONE = "none"
    HYPERTENSION = "hypertension"
    RHEUMATISM = "rheumatism"
    ASTHMA = "asthma"
    HEART_DISEASE = "heart_disease"
    DIABETES = "diabetes"
    TUBERCULOSIS = "tuberculosis"
    STROKE = "stroke"
    CANCER = "cancer"
    KIDNEY_FAILURE = "kidney_failure"
    OTHER = "other"


class TenureStatus(StrEnum):
    """Who owns the dwelling."""

    OWNED = "owned"
    RENTED = "rented"
    RENT_FREE = "rent_free"
    OFFICIAL_HOUSING = "official_housing"  # rumah dinas
    OTHER = "other"


class FloorMaterial(StrEnum):
    """Material of the largest floor area."""

    MARBLE_GRANITE = "marble_granite"
    CERAMIC = "ceramic"
    PARQUET_VINYL_CARPET = "parquet_vinyl_carpet"
    TILE_TERRAZZO = "tile_terrazzo"
    WOOD_HIGH_QUALITY = "wood_high_quality"
    CEMENT_RED_BRICK = "cement_red_brick"
    BAMBOO = "bamboo"
    WOOD_LOW_QUALITY = "wood_low_quality"
    EARTH = "earth"
    OTHER = "other"


class WallMaterial(StrEnum):
    """Material of the largest wall area."""

    MASONRY = "masonry"  # tembok
    PLASTERED_WOVEN_BAMBOO = "plastered_woven_bamboo"
    WOOD = "wood"
    WOVEN_BAMBOO = "woven_bamboo"
    LOG = "log"
    BAMBOO = "bamboo"
    OTHER = "other"


class RoofMaterial(StrEnum):
    """Material of the largest roof area."""

    CONCRETE = "concrete"
    CERAMIC_TILE = "ceramic_tile"
    METAL_TILE = "metal_tile"
    CLAY_TILE = "clay_tile"
    ASBESTOS = "asbestos"
    ZINC = "zinc"  # seng
    SHINGLE = "shingle"  # sirap
    BAMBOO = "bamboo"
    THATCH = "thatch"  # straw, palm fibre, leaves
    OTHER = "other"


class DrinkingWaterSource(StrEnum):
    BOTTLED = "bottled"
    REFILL = "refill"
    PIPED_METERED = "piped_metered"
    PIPED_RETAIL = "piped_retail"
    BOREHOLE_PUMP = "borehole_pump"
    PROTECTED_WELL = "protected_well"
    UNPROTECTED_WELL = "unprotected_well"
    PROTECTED_SPRING = "protected_spring"
    UNPROTECTED_SPRING = "unprotected_spring"
    SURFACE_WATER = "surface_water"  # river, lake, reservoir
    RAINWATER = "rainwater"
    OTHER = "other"


class LightingSource(StrEnum):
    """Main source of lighting; PLN is the state electricity company."""

    PLN_METERED = "pln_metered"
    PLN_UNMETERED = "pln_unmetered"
    NON_PLN_ELECTRICITY = "non_pln_electricity"
    NON_ELECTRIC = "non_electric"


class Sanitation(StrEnum):
    PRIVATE_TOILET_SEPTIC_TANK = "private_toilet_septic_tank"
    PRIVATE_TOILET_NO_SEPTIC_TANK = "private_toilet_no_septic_tank"
    SHARED_TOILET = "shared_toilet"
    PUBLIC_TOILET = "public_toilet"
    NONE = "none"


class CookingFuel(StrEnum):
    ELECTRICITY = "electricity"
    LPG_ABOVE_3KG = "lpg_above_3kg"
    LPG_3KG = "lpg_3kg"  # the subsidised cylinder
    CITY_GAS_BIOGAS = "city_gas_biogas"
    KEROSENE = "kerosene"
    BRIQUETTE = "briquette"
    CHARCOAL = "charcoal"
    FIREWOOD = "firewood"
    NO_COOKING = "no_cooking"


class IncomeBand(StrEnum):
    """Monthly household income in rupiah; lower bound inclusive, upper bound exclusive."""

    BELOW_1M = "below_1m"
    FROM_1M_TO_2M = "1m_to_2m"
    FROM_2M_TO_3M = "2m_to_3m"
    FROM_3M_TO_5M = "3m_to_5m"
    FROM_5M = "5m_and_above"
