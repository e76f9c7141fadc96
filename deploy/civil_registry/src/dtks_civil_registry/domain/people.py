"""A person and a family as the civil registry (Dukcapil) answers about them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from dtks_contracts.identifiers import KkNumber, Nik
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import VillageCode
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Unit = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")]


class PersonRecord(ContractModel):
    """One person. `address` is the street line; `rt`/`rw` the neighbourhood and community units.
    `moved_to` is the village the person moved to (the record keeps the old `village_code`)."""

    nik: Nik
    name: Text
    birth_date: dt.date
    sex: Sex
    kk_number: KkNumber
    address: Text
    rt: Unit | None = None
    rw: Unit | None = None
    village_code: VillageCode
    alive: bool = True
    died_on: dt.date | None = None
    moved_to: VillageCode | None = None
    moved_on: dt.date | None = None
    relation_to_head: RelationToHead | None = Field(default=None, description="Place on the family card")


# Most people one bulk load may carry: the loaders send 20,000 at a time. Bounded in the model, not
# only in the route, so that validation stops at the first record past it: a body of empty records
# would otherwise make seven validation errors per record, gigabytes from a few megabytes.
PEOPLE_BATCH_MAX = 20_000


class PeopleBatch(ContractModel):
    people: list[PersonRecord] = Field(max_length=PEOPLE_BATCH_MAX)


class Loaded(ContractModel):
    loaded: int = Field(description="Records in the batch (the last one wins if a NIK repeats)")
    changed: int = Field(description="Records inserted or different from what was stored")


class Family(ContractModel):
    """A family card: its number, where it lives (the head's record) and its members, head first."""

    kk_number: str
    village_code: str
    address: str
    rt: str | None
    rw: str | None
    members: list[PersonRecord]


class NikLookup(ContractModel):
    niks: list[str] = Field(max_length=10_000)


class PeopleFound(ContractModel):
    people: list[PersonRecord]
    missing: list[str] = Field(description="NIKs the registry does not know")


class KkLookup(ContractModel):
    kk_numbers: list[str] = Field(max_length=10_000)


class FamiliesFound(ContractModel):
    families: list[Family]
    missing: list[str]


class OutageRequest(ContractModel):
    # Strict: a JSON true is not a number of seconds.
    until_seconds: float = Field(
        ge=0, strict=True, description="Be down this many seconds from now; 0 ends the outage"
    )


class OutageState(ContractModel):
    active: bool
    remaining_seconds: float | None = Field(description="None when the outage lasts until ended")
