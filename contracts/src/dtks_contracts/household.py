"""What a register record holds: a household (family card), its members and its circumstances.

The parser is strict about identifiers (NIK, KK number, village code) and about values that cannot
be true in any world (a negative floor area). Completeness and plausibility are left to the
verification rules, which return the proposal with a coded reason an operator can act on instead
of rejecting the upload; that is why most socio-economic fields are optional.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dtks_contracts.historical import is_historical_read
from dtks_contracts.identifiers import EntityId, KkNumber, Nik
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import VillageCode
from dtks_contracts.text import LineCheck, Name, Reference
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
from dtks_contracts.vocabulary.proposals import DeliberationKind

# Text fields refuse control and text-direction characters (dtks_contracts.text says why).
PersonName = Name
ShortText = Name
# A key or URI in the document/photo store; the record never carries the file itself.
DocumentRef = Reference

# Plausibility bounds. They refuse only what no household can own: a value past them is a typing
# slip or an attack (10**30 bicycles once entered a decree), never a rich household, which the
# verification rules and the welfare ranking deal with. Each is far above any real household so
# that no true record is ever refused. They apply to new input only, not to stored history
# (HISTORICAL_READ): a decree already holds the 10**30 bicycles, and replaying the register must
# still read it; for the same reason they are not in the published JSON Schemas, whose bounds are
# the contract of every stored event version.
# Vehicles and boats: a household using a hundred of one kind is a business, not a family card.
MAX_VEHICLES: Final = 100
# Livestock: the largest family herds (cattle and buffalo in NTT and Sumba, goats in Madura) are
# counted in hundreds; ten thousand head leaves room for any of them.
MAX_LIVESTOCK: Final = 10_000
# Dwelling floor: 10,000 m2 is a hectare under one roof, far above a family's house.
MAX_FLOOR_AREA_M2: Final = 10_000
# Land besides the dwelling: 100,000,000 m2 is 10,000 ha, more than any family holding.
MAX_LAND_M2: Final = 100_000_000
# PLN connections: household tariffs end at the low-voltage limit of 197,000 VA.
MAX_ELECTRICITY_VA: Final = 197_000


def _at_most(bound: float, what: str) -> AfterValidator:
    def check(value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and value > bound and not is_historical_read(info):
            raise ValueError(f"{what} above {bound:,} cannot be true of one household; check the value")
        return value

    return AfterValidator(check)


_Vehicles = Annotated[int, Field(ge=0), _at_most(MAX_VEHICLES, "a count of vehicles or boats")]
_Livestock = Annotated[int, Field(ge=0), _at_most(MAX_LIVESTOCK, "a count of livestock")]
_FloorArea = Annotated[float, Field(gt=0), _at_most(MAX_FLOOR_AREA_M2, "a floor area (m2)")]
_LandArea = Annotated[float, Field(ge=0), _at_most(MAX_LAND_M2, "a land area (m2)")]
_ElectricityVa = Annotated[int, Field(gt=0), _at_most(MAX_ELECTRICITY_VA, "a PLN connection (VA)")]


class Member(ContractModel):
    nik: Nik
    name: PersonName
    birth_date: dt.date
    sex: Sex
    relation_to_head: RelationToHead
    marital_status: MaritalStatus | None = None
    education: EducationLevel | None = None
    attending_school: bool | None = None
    occupation: ShortText | None = None
    disability: DisabilityType | None = None
    chronic_illness: ChronicIllness | None = None


class Housing(ContractModel):
    tenure: TenureStatus | None = None
    floor_material: FloorMaterial | None = None
    wall_material: WallMaterial | None = None
    roof_material: RoofMaterial | None = None
    floor_area_m2: _FloorArea | None = None
    drinking_water: DrinkingWaterSource | None = None
    lighting: LightingSource | None = None
    electricity_capacity_va: _ElectricityVa | None = Field(
        default=None,
        description="Installed PLN connection, e.g. 450 or 900 (electricity subsidy)",
    )
    sanitation: Sanitation | None = None
    cooking_fuel: CookingFuel | None = None


class Assets(ContractModel):
    """Assets the household owns; `None` means not asked, 0/false means asked and absent."""

    lpg_cylinder_5kg_or_more: bool | None = None
    refrigerator: bool | None = None
    air_conditioner: bool | None = None
    water_heater: bool | None = None
    landline_phone: bool | None = None
    television: bool | None = None
    computer: bool | None = None
    gold_or_savings_10g: bool | None = Field(
        default=None, description="Gold, jewellery or savings worth at least 10 grams of gold"
    )
    bicycles: _Vehicles | None = None
    motorcycles: _Vehicles | None = None
    cars: _Vehicles | None = None
    boats: _Vehicles | None = None
    motorboats: _Vehicles | None = None
    land_m2: _LandArea | None = Field(default=None, description="Land owned besides the dwelling's plot")
    other_house: bool | None = None
    cattle: _Livestock | None = None
    buffalo: _Livestock | None = None
    horses: _Livestock | None = None
    pigs: _Livestock | None = None
    goats_sheep: _Livestock | None = None


class FieldVisit(ContractModel):
    """Evidence from the officer's visit to the dwelling."""

    visit_date: dt.date
    officer: ShortText
    roof_photo_ref: DocumentRef | None = None
    floor_photo_ref: DocumentRef | None = None
    wall_photo_ref: DocumentRef | None = None
    head_photo_ref: DocumentRef | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _position_is_whole(self) -> FieldVisit:
        # Half a coordinate locates nothing; a missing position is EVIDENCE_MISSING for the verifier.
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("GPS position needs both latitude and longitude, or neither")
        return self


class WelfareDecile(ContractModel):
    """The welfare rank set centrally (1 = poorest tenth of households, 10 = richest)."""

    decile: int = Field(ge=1, le=10)
    source: ShortText = Field(description="Who ranked the household, e.g. 'BPS DTSEN'")
    as_of: dt.date


class Contact(ContractModel):
    phone: str = Field(pattern=r"^\+?[0-9]{8,15}$", description="Digits only, optionally with leading +")
    consent: bool = Field(description="The household agreed to be contacted about its record")


class Deliberation(ContractModel):
    """The village (musdes) or urban-village (muskel) meeting that agreed the proposal."""

    kind: DeliberationKind
    date: dt.date
    minutes_ref: DocumentRef


class Address(ContractModel):
    street: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), LineCheck]
    rt: str | None = Field(default=None, pattern=r"^[0-9]{1,3}$", description="Neighbourhood unit")
    rw: str | None = Field(default=None, pattern=r"^[0-9]{1,3}$", description="Community unit")
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{5}$")


class Household(ContractModel):
    """One family card's household, as proposed or as registered."""

    kk_number: KkNumber
    household_id: EntityId | None = Field(default=None, description="Register id; set once registered")
    address: Address
    village_code: VillageCode
    members: tuple[Member, ...] = Field(min_length=1)
    housing: Housing | None = None
    assets: Assets | None = None
    income_band: IncomeBand | None = None
    programs: tuple[Program, ...] = Field(default=(), description="Programs the household receives")
    field_visit: FieldVisit | None = None
    welfare_decile: WelfareDecile | None = Field(
        default=None, description="Set centrally (registry.welfare_decile_set); proposals leave it empty"
    )
    contact: Contact | None = None

    @field_validator("programs")
    @classmethod
    def _programs_as_set(cls, programs: tuple[Program, ...]) -> tuple[Program, ...]:
        # A set in meaning; one canonical order keeps snapshots and register hashes stable.
        return tuple(sorted(set(programs)))

    def heads(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.relation_to_head is RelationToHead.HEAD)

    def member(self, nik: str) -> Member | None:
        return next((m for m in self.members if m.nik == nik), None)
