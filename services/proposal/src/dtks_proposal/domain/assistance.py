"""The door of an institution's assistance proposal (#19): what the register must say first.

An assistance is for an institution as the register holds it, so the proposal service keeps the
registry's institutions (their village, whether open, their accreditation and residents; see
adapters/institutions.py) and refuses at entry, before anything is written:
- an institution the register does not hold (or holds outside the operator's region: the same
  answer, so an id of another region tells nothing), or one the register closed;
- an institution whose accreditation has expired on the day of the proposal (the same rule as an
  institution's record at its door: :meth:`Accreditation.valid_on`), or that has none: assistance is
  proposed once the renewed accreditation is in the register, through a change of the institution;
- a named resident who is not a current resident of the institution in the register.
Pure: the facts are read by the caller.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dtks_contracts.institution import Accreditation, Assistance, Resident
from dtks_runtime.errors import DomainError

INSTITUTION_NOT_FOUND = "institution_not_found"
INSTITUTION_CLOSED = "institution_closed"
ACCREDITATION_EXPIRED = "accreditation_expired"
NOT_ACCREDITED = "not_accredited"
NOT_A_RESIDENT = "not_a_resident"


@dataclass(frozen=True)
class RegisteredInstitution:
    """An institution as the latest decree left it, as far as assistance needs."""

    institution_id: str
    village_code: str
    open: bool
    accreditation: Accreditation | None
    residents: tuple[Resident, ...]
    last_decree: str


def institution_not_found(institution_id: str) -> DomainError:
    return DomainError(
        INSTITUTION_NOT_FOUND,
        f"Institution {institution_id} is not in the register in your region; check the register id "
        "(a newly accepted institution enters the register with the next decree).",
    )


def assistance_refusal(
    institution_id: str,
    village_code: str,
    assistance: Assistance,
    found: RegisteredInstitution | None,
    today: dt.date,
) -> DomainError | None:
    """Why this assistance may not be entered today, or None. ``found`` is the registered institution
    already limited to the operator's region (None: unknown, or outside it). Over 60 lines because
    each refusal is one rule with the sentence (and the code) the operator reads, in the order they
    are judged: unknown, closed, another village, not accredited, expired, residents not living there."""
    if found is None:
        return institution_not_found(institution_id)
    if not found.open:
        return DomainError(
            INSTITUTION_CLOSED,
            f"Institution {institution_id} was closed by decree {found.last_decree}; a closed institution "
            "receives no assistance.",
        )
    if found.village_code != village_code:
        return DomainError(
            "invalid_proposal",
            "The proposal has fields to correct: village_code.",
            errors=[
                {
                    "field": "village_code",
                    "message": f"Institution {institution_id} is in {found.village_code}; propose its "
                    "assistance in that village.",
                    "type": "mismatch",
                }
            ],
        )
    accreditation = found.accreditation
    if accreditation is None:
        return DomainError(
            NOT_ACCREDITED,
            f"Institution {institution_id} has no accreditation in the register; assistance is proposed "
            "once an accreditation is registered (propose a change of the institution carrying it).",
        )
    if not accreditation.valid_on(today):
        return DomainError(
            ACCREDITATION_EXPIRED,
            f"The accreditation of institution {institution_id} expired on "
            f"{accreditation.valid_until.isoformat()}; propose a change of the institution with the renewed "
            "accreditation first, and the assistance once that change is in the register.",
            extra={"valid_until": accreditation.valid_until.isoformat()},
        )
    current = {r.nik for r in found.residents if r.resident_on(today)}
    strangers = [
        {
            "field": f"assistance.residents[{i}]",
            "message": f"{nik} is not a current resident of institution {institution_id} in the register; "
            "remove the NIK, or register the admission through a change of the institution first.",
            "type": NOT_A_RESIDENT,
        }
        for i, nik in enumerate(assistance.residents)
        if nik not in current
    ]
    if strangers:
        return DomainError(
            NOT_A_RESIDENT,
            f"{len(strangers)} of the named residents are not current residents of institution "
            f"{institution_id} in the register.",
            errors=strangers,
        )
    return None
