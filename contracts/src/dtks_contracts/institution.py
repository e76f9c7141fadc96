"""What the register holds of a social welfare institution (LKS) and the people it cares for.

Like the household record, the parser is strict about identifiers (registration number, NIK,
village code) and about what cannot be true (discharge before admission, a capacity of zero);
whether the record agrees with the civil registry and with the rest of the register is for
verification to decide, with coded reasons.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, model_validator

from dtks_contracts.household import Address, DocumentRef, FieldVisit, PersonName
from dtks_contracts.identifiers import EntityId, Nik
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import RegencyCode, VillageCode
from dtks_contracts.text import Name, Reference
from dtks_contracts.vocabulary.institutions import (
    AccreditationGrade,
    AssistanceBasis,
    AssistanceProgram,
    LegalForm,
    ServiceType,
)

# The Ministry of Law's legal-entity registration (AHU) of the foundation or association, as printed
# on its decree: "AHU-0012345.AH.01.04.Tahun 2019". The two digits before "Tahun" name the kind of
# decree (04 foundations, 07 associations, and the others the Ministry issues), so any two go.
_REGISTRATION = re.compile(r"^AHU-(?P<serial>[0-9]{7})\.AH\.01\.[0-9]{2}\.Tahun (?P<year>[0-9]{4})$")
# Legal-entity registration moved to the AHU system in 2000; no earlier number has this shape.
FIRST_REGISTRATION_YEAR: Final = 2000


def _check_registration_number(value: str) -> str:
    match = _REGISTRATION.match(value)
    if match is None:
        raise ValueError(
            "a registration number reads like 'AHU-0012345.AH.01.04.Tahun 2019' (the Ministry of Law's decree)"
        )
    year = int(match["year"])
    if not FIRST_REGISTRATION_YEAR <= year <= dt.date.today().year:
        raise ValueError(f"registration year {year} is not between {FIRST_REGISTRATION_YEAR} and this year")
    if match["serial"] == "0000000":
        raise ValueError("registration serial 0000000 is never issued")
    return value


RegistrationNumber = Annotated[str, Field(max_length=40), AfterValidator(_check_registration_number)]


class InstitutionAddress(Address):
    """Where the institution is: the household's address fields, as a schema definition of its own
    so that a change to one record's address never silently changes the other's contract."""


class Accreditation(ContractModel):
    grade: AccreditationGrade
    valid_until: dt.date = Field(description="Last day the grade is valid")
    certificate_ref: DocumentRef | None = None

    def valid_on(self, day: dt.date) -> bool:
        return day <= self.valid_until


class Licence(ContractModel):
    """The operating licence (tanda daftar) from the regency's social service."""

    number: Annotated[str, Field(min_length=1, max_length=100)] = Field(description="As printed")
    issued_by: RegencyCode = Field(description="The regency/city whose social service issued it")
    issued_on: dt.date


class InstitutionContact(ContractModel):
    phone: str = Field(pattern=r"^\+?[0-9]{8,15}$", description="Digits only, optionally with leading +")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Resident(ContractModel):
    """A person the institution cares for; checked against the civil registry like a member."""

    nik: Nik
    name: PersonName
    birth_date: dt.date
    admitted_on: dt.date
    discharged_on: dt.date | None = Field(default=None, description="Empty while the person lives there")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Resident:
        if self.admitted_on < self.birth_date:
            raise ValueError("admitted_on is before the resident's birth date")
        if self.discharged_on is not None and self.discharged_on < self.admitted_on:
            raise ValueError("discharged_on is before admitted_on")
        return self

    def resident_on(self, day: dt.date) -> bool:
        return self.admitted_on <= day and (self.discharged_on is None or day <= self.discharged_on)


class Institution(ContractModel):
    """One social welfare institution, as proposed or as registered."""

    institution_id: EntityId | None = Field(default=None, description="Register id; set once registered")
    name: Name
    legal_form: LegalForm
    registration_number: RegistrationNumber
    service_type: ServiceType
    address: InstitutionAddress
    village_code: VillageCode
    head: PersonName = Field(description="The head of the institution")
    capacity: int = Field(ge=1, le=10_000, description="Places for residents")
    accreditation: Accreditation | None = Field(default=None, description="None: not yet accredited")
    licence: Licence
    contact: InstitutionContact
    bank_account_ref: Reference = Field(
        description="A reference to the account held by the bank or the treasury, never the number itself"
    )
    field_visit: FieldVisit | None = None
    residents: tuple[Resident, ...] = ()

    @model_validator(mode="after")
    def _licensed_where_it_is(self) -> Institution:
        if not self.village_code.startswith(self.licence.issued_by + "."):
            raise ValueError(
                f"the licence is from {self.licence.issued_by}, the institution is in {self.village_code}; "
                "the licence comes from the regency where the institution is"
            )
        return self

    @property
    def regency_code(self) -> str:
        return self.village_code[:5]

    def current_residents(self, day: dt.date) -> tuple[Resident, ...]:
        return tuple(r for r in self.residents if r.resident_on(day))


# A quarter as an operator writes it ("2027-Q2"): the period from its first to its last day.
_QUARTER = re.compile(r"^(?P<year>[0-9]{4})-Q(?P<quarter>[1-4])$")


def quarter_dates(text: str) -> tuple[dt.date, dt.date]:
    match = _QUARTER.match(text)
    if match is None:
        raise ValueError(f"a quarter reads like '2027-Q2', not {text[:20]!r}")
    year, quarter = int(match["year"]), int(match["quarter"])
    first = dt.date(year, 3 * quarter - 2, 1)
    following = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return first, following - dt.timedelta(days=1)


# A year of assistance at most per proposal: a longer one is proposed again with the next year's
# accreditation and residents, which the door checks afresh.
MAX_ASSISTANCE_DAYS: Final = 366


class Assistance(ContractModel):
    """What an assistance proposal asks for an institution: a program, a period, and whether it is
    counted per named resident or for the institution as a whole."""

    program: AssistanceProgram
    starts_on: dt.date = Field(description="First day of the period (a quarter: its first day)")
    ends_on: dt.date = Field(description="Last day of the period")
    basis: AssistanceBasis
    residents: tuple[Nik, ...] = Field(
        default=(),
        max_length=10_000,
        description="Per resident: the NIKs of the residents it is for; per institution: none",
    )

    @model_validator(mode="before")
    @classmethod
    def _quarter(cls, data: Any) -> Any:
        # The period may be given as a quarter instead of its dates; the record keeps the dates.
        if isinstance(data, dict) and "quarter" in data:
            if "starts_on" in data or "ends_on" in data:
                raise ValueError("give the period as a quarter or as starts_on and ends_on, not both")
            data = dict(data)
            data["starts_on"], data["ends_on"] = quarter_dates(str(data.pop("quarter")))
        return data

    @model_validator(mode="after")
    def _period_and_basis(self) -> Assistance:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        if (self.ends_on - self.starts_on).days >= MAX_ASSISTANCE_DAYS:
            raise ValueError("an assistance covers a year at most; propose the next period apart")
        if self.basis is AssistanceBasis.PER_RESIDENT:
            if not self.residents:
                raise ValueError("assistance per resident names the residents it is for")
            if len(set(self.residents)) != len(self.residents):
                raise ValueError("a resident is named twice in the assistance")
        elif self.residents:
            raise ValueError("assistance per institution names no residents; use basis per_resident")
        return self


class DeterminedAssistance(ContractModel):
    """One assistance as a decree lists it: what the institution is to receive."""

    proposal_id: EntityId
    institution_id: EntityId
    program: AssistanceProgram
    starts_on: dt.date
    ends_on: dt.date
    basis: AssistanceBasis
    residents_counted: int = Field(
        ge=0, description="Per resident: the named residents; per institution: its residents in the period"
    )
