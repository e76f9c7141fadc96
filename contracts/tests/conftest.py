"""Shared sample data for the contracts tests: real codes from Kota Bengkulu (17.71)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.household import Address, Deliberation, Household, Member
from dtks_contracts.institution import (
    Accreditation,
    Institution,
    InstitutionAddress,
    InstitutionContact,
    Licence,
    Resident,
)
from dtks_contracts.vocabulary import RelationToHead, Role, Sex
from dtks_contracts.vocabulary.institutions import AccreditationGrade, LegalForm, ServiceType

VILLAGE = "17.71.01.1001"  # Pagar Dewa, Selebar, Kota Bengkulu
HEAD_NIK = "1771015203850001"  # woman born 12 March 1985, registered in Selebar (17.71.01)
SPOUSE_NIK = "1771011507830002"  # man born 15 July 1983
KK = "1771010101200001"


@pytest.fixture
def village_operator() -> Actor:
    return Actor(subject="op-pagar-dewa", role=Role.VILLAGE_OPERATOR, region=VILLAGE)


@pytest.fixture
def ministry_verifier() -> Actor:
    return Actor(subject="kemensos-1", role=Role.MINISTRY_VERIFIER, region="ID")


@pytest.fixture
def make_household() -> Callable[..., Household]:
    def make(**overrides: Any) -> Household:
        fields: dict[str, Any] = {
            "kk_number": KK,
            "address": Address(street="Jl. Pagar Dewa No. 7", rt="003", rw="001"),
            "village_code": VILLAGE,
            "members": (
                Member(
                    nik=HEAD_NIK,
                    name="Siti Aminah",
                    birth_date=dt.date(1985, 3, 12),
                    sex=Sex.FEMALE,
                    relation_to_head=RelationToHead.HEAD,
                ),
                Member(
                    nik=SPOUSE_NIK,
                    name="Budi Santoso",
                    birth_date=dt.date(1983, 7, 15),
                    sex=Sex.MALE,
                    relation_to_head=RelationToHead.SPOUSE,
                ),
            ),
        }
        fields.update(overrides)
        return Household(**fields)

    return make


@pytest.fixture
def deliberation() -> Deliberation:
    return Deliberation(kind="muskel", date=dt.date(2025, 1, 20), minutes_ref="docs/muskel/2025-01-20.pdf")


# A children's home in Pagar Dewa; its residents are registered in Selebar like the households.
RESIDENT_NIK = "1771010504100001"  # boy born 5 April 2010
SECOND_RESIDENT_NIK = "1771014708120002"  # girl born 7 August 2012


@pytest.fixture
def make_institution() -> Callable[..., Institution]:
    def make(**overrides: Any) -> Institution:
        fields: dict[str, Any] = {
            "name": "LKSA Harapan Bunda",
            "legal_form": LegalForm.FOUNDATION,
            "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
            "service_type": ServiceType.CHILDREN,
            "address": InstitutionAddress(street="Jl. Pagar Dewa No. 21", rt="004", rw="002"),
            "village_code": VILLAGE,
            "head": "Dra. Nurhayati",
            "capacity": 40,
            "accreditation": Accreditation(grade=AccreditationGrade.B, valid_until=dt.date(2028, 6, 30)),
            "licence": Licence(
                number="460/112/DINSOS/2024", issued_by="17.71", issued_on=dt.date(2024, 2, 1)
            ),
            "contact": InstitutionContact(phone="+6273621234"),
            "bank_account_ref": "bank-ref:lksa-harapan-bunda",
            "residents": (
                Resident(
                    nik=RESIDENT_NIK,
                    name="Andi Pratama",
                    birth_date=dt.date(2010, 4, 5),
                    admitted_on=dt.date(2019, 1, 14),
                ),
                Resident(
                    nik=SECOND_RESIDENT_NIK,
                    name="Putri Lestari",
                    birth_date=dt.date(2012, 8, 7),
                    admitted_on=dt.date(2020, 7, 1),
                ),
            ),
        }
        fields.update(overrides)
        return Institution(**fields)

    return make
