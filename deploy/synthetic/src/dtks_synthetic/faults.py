"""Controlled faults a generated proposal can carry, and where each one is meant to be caught.

Door (`refused_at_door`): the proposal service refuses the submission with 422 (issue 4, validation
at the door: exactly one head, required fields). Verification: the submission is accepted and
the integrity check returns it to the village with a reason code (issue 5).

| fault | what is changed | caught by |
| --- | --- | --- |
| NIK_NOT_IN_CIVIL_REGISTRY | one member gets a well-formed NIK (same district, date, sex) with a serial 9000-9999, which no generated person has | verification (b) |
| NAME_MISMATCH | one member's given name replaced by another of the same sex, different first letter (beyond any spelling tolerance) | verification (b) |
| BIRTH_DATE_MISMATCH | one member's birth date moved 400 days earlier (disagrees with the civil registry and the NIK) | verification (b) |
| DUPLICATE_PERSON | an extra member (other_relative) who is already in the register, or in another proposal of the same batch | verification (a) |
| TWO_HEADS | a second member (the spouse, else another) marked head; the contracts model allows it | door (422), verification (c) |
| NO_HEAD | the head marked other_relative | door (422), verification (c) |
| IDENTICAL_MEMBERS | a copy of a non-head member with every field identical except the NIK (a fresh, unknown NIK) | verification (d) (and (b) for the unknown NIK) |
| MISSING_FIELDS | optional data blanked: housing, assets, income band, members' education/occupation/marital status, RT/RW | verification (e) |
| MISSING_REQUIRED_FIELDS | raw dict (not a model dump): the address and the head's birth date removed | door (422) |
"""

from __future__ import annotations

import datetime as dt
import random
from enum import StrEnum
from typing import Any

from dtks_contracts.household import Household
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex
from dtks_synthetic.identities import UNKNOWN_SERIAL_MIN, district_prefix, unknown_nik
from dtks_synthetic.names import FEMALE_GIVEN, MALE_GIVEN


class Fault(StrEnum):
    NIK_NOT_IN_CIVIL_REGISTRY = "NIK_NOT_IN_CIVIL_REGISTRY"
    NAME_MISMATCH = "NAME_MISMATCH"
    BIRTH_DATE_MISMATCH = "BIRTH_DATE_MISMATCH"
    DUPLICATE_PERSON = "DUPLICATE_PERSON"
    TWO_HEADS = "TWO_HEADS"
    NO_HEAD = "NO_HEAD"
    IDENTICAL_MEMBERS = "IDENTICAL_MEMBERS"
    MISSING_FIELDS = "MISSING_FIELDS"
    MISSING_REQUIRED_FIELDS = "MISSING_REQUIRED_FIELDS"

    @property
    def refused_at_door(self) -> bool:
        """True if the proposal service must answer 422; False if verification must return it."""
        return self in _DOOR

    @property
    def needs_two_members(self) -> bool:
        return self in (Fault.TWO_HEADS, Fault.IDENTICAL_MEMBERS)


_DOOR = frozenset({Fault.TWO_HEADS, Fault.NO_HEAD, Fault.MISSING_REQUIRED_FIELDS})


class UnknownNiks:
    """Hands out NIKs nobody in the civil registry has, never the same one twice in one batch."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def take(self, district_code: str, birth_date: dt.date, female: bool) -> str:
        while True:
            serial = UNKNOWN_SERIAL_MIN + self._rng.randrange(1000)
            nik = unknown_nik(district_prefix(district_code), birth_date, female, serial)
            if nik not in self._used:
                self._used.add(nik)
                return nik


def apply_fault(
    fault: Fault,
    household: Household,
    rng: random.Random,
    unknown: UnknownNiks,
    duplicate: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """The faulty household (JSON dict) and a sentence saying what was changed.

    `duplicate` (DUPLICATE_PERSON only) is the JSON of a member who already exists elsewhere.
    One short branch per fault, kept in one function on purpose: it reads as the catalogue of
    faults beside the enum, and splitting it would scatter that catalogue.
    """
    body = household.model_dump(mode="json")
    members: list[dict[str, Any]] = body["members"]
    target = _target(members)
    district = household.village_code.rpartition(".")[0]
    if fault is Fault.NIK_NOT_IN_CIVIL_REGISTRY:
        m = members[target]
        m["nik"] = unknown.take(district, dt.date.fromisoformat(m["birth_date"]), m["sex"] == Sex.FEMALE)
        return body, f"members[{target}] has NIK {m['nik']}, unknown to the civil registry"
    if fault is Fault.NAME_MISMATCH:
        m = members[target]
        given, _, rest = m["name"].partition(" ")
        pool = MALE_GIVEN if m["sex"] == Sex.MALE else FEMALE_GIVEN
        other = rng.choice([g for g in pool if g[0] != given[0]])
        m["name"] = f"{other} {rest}".strip()
        return body, f"members[{target}] is named {m['name']!r}, the civil registry says {given} {rest}"
    if fault is Fault.BIRTH_DATE_MISMATCH:
        m = members[target]
        m["birth_date"] = (dt.date.fromisoformat(m["birth_date"]) - dt.timedelta(days=400)).isoformat()
        return body, f"members[{target}] birth date moved 400 days earlier to {m['birth_date']}"
    if fault is Fault.DUPLICATE_PERSON:
        if duplicate is None:
            raise ValueError("DUPLICATE_PERSON needs a person who exists elsewhere")
        members.append({**duplicate, "relation_to_head": RelationToHead.OTHER_RELATIVE.value})
        return body, f"members[{len(members) - 1}] NIK {duplicate['nik']} already exists elsewhere"
    if fault is Fault.TWO_HEADS:
        second = next((i for i, m in enumerate(members) if m["relation_to_head"] == "spouse"), target)
        members[second]["relation_to_head"] = RelationToHead.HEAD.value
        return body, f"members[{second}] is a second head"
    if fault is Fault.NO_HEAD:
        members[0]["relation_to_head"] = RelationToHead.OTHER_RELATIVE.value
        return body, "members[0], the head, is marked other_relative: nobody heads the family"
    if fault is Fault.IDENTICAL_MEMBERS:
        m = members[target]
        female = m["sex"] == Sex.FEMALE
        copy = {**m, "nik": unknown.take(district, dt.date.fromisoformat(m["birth_date"]), female)}
        members.append(copy)
        return body, f"members[{len(members) - 1}] repeats members[{target}] except the NIK {copy['nik']}"
    if fault is Fault.MISSING_FIELDS:
        body.update(housing=None, assets=None, income_band=None)
        body["address"].update(rt=None, rw=None)
        for m in members:
            m.update(education=None, occupation=None, marital_status=None)
        return (
            body,
            "housing, assets, income_band, address.rt/rw and members' education/occupation/marital_status are empty",
        )
    if fault is Fault.MISSING_REQUIRED_FIELDS:
        del body["address"]
        del members[0]["birth_date"]
        return body, "address and members[0].birth_date are missing (not a valid Household)"
    raise AssertionError(f"unhandled fault {fault}")


def _target(members: list[dict[str, Any]]) -> int:
    """The member a fault is applied to: the first non-head, or the head of a one-person family."""
    return next((i for i, m in enumerate(members) if m["relation_to_head"] != "head"), 0)
