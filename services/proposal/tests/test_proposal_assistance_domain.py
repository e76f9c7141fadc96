"""The door of an institution's assistance (#19), pure: what the proposal must say, and what the
register must say of the institution on the day of the proposal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dtks_contracts.institution import Accreditation, Assistance, Resident
from dtks_proposal.domain.assistance import RegisteredInstitution, assistance_refusal
from dtks_proposal.domain.submission import ProposalIn, door_errors
from dtks_proposal.testing import VILLAGE

TODAY = dt.date(2027, 2, 1)
IID = "lks-harapan-bunda"
ANDI, PUTRI, SARI = "1771010504100001", "1771014708120002", "1771015003110003"


def _residents() -> tuple[Resident, ...]:
    return (
        Resident(nik=ANDI, name="Andi Pratama", birth_date=dt.date(2010, 4, 5), admitted_on=dt.date(2019, 1, 14)),
        Resident(nik=PUTRI, name="Putri Lestari", birth_date=dt.date(2012, 8, 7), admitted_on=dt.date(2020, 7, 1)),
        Resident(nik=SARI, name="Sari Dewi", birth_date=dt.date(2011, 3, 10), admitted_on=dt.date(2020, 7, 1),
                 discharged_on=dt.date(2026, 6, 30)),
    )  # fmt: skip


def _registered(
    *, valid_until: dt.date | None = dt.date(2028, 1, 1), open: bool = True
) -> RegisteredInstitution:
    accreditation = Accreditation(grade="B", valid_until=valid_until) if valid_until else None
    return RegisteredInstitution(IID, VILLAGE, open, accreditation, _residents(), "1/HUK/2027")


def _assistance(basis: str = "per_resident", residents: tuple[str, ...] = (ANDI, PUTRI)) -> Assistance:
    return Assistance(
        program="ATENSI", starts_on=dt.date(2027, 4, 1), ends_on=dt.date(2027, 6, 30), basis=basis,
        residents=residents,
    )  # fmt: skip


def _refusal(
    found: RegisteredInstitution | None, assistance: Assistance | None = None, village: str = VILLAGE
) -> Any:
    return assistance_refusal(IID, village, assistance or _assistance(), found, TODAY)


def test_an_assistance_for_an_open_accredited_institution_and_its_current_residents_is_let_in():
    assert _refusal(_registered()) is None
    assert _refusal(_registered(), _assistance("per_institution", ())) is None
    # Valid through its last day.
    assert _refusal(_registered(valid_until=TODAY)) is None


def test_an_expired_accreditation_on_the_day_of_the_proposal_is_refused_with_what_to_do():
    refusal = _refusal(_registered(valid_until=TODAY - dt.timedelta(days=1)))
    assert refusal is not None and refusal.code == "accreditation_expired"
    assert "expired on 2027-01-31" in refusal.detail and "renewed accreditation" in refusal.detail
    assert refusal.extra == {"valid_until": "2027-01-31"}
    missing = _refusal(_registered(valid_until=None))
    assert missing is not None and missing.code == "not_accredited"


def test_an_unknown_or_closed_institution_is_refused_before_its_accreditation_is_looked_at():
    unknown = _refusal(None)
    assert unknown is not None and unknown.code == "institution_not_found" and IID in unknown.detail
    closed = _refusal(_registered(open=False, valid_until=TODAY - dt.timedelta(days=1)))
    assert closed is not None and closed.code == "institution_closed" and "1/HUK/2027" in closed.detail


def test_an_institution_in_another_village_than_the_proposals_is_a_field_to_correct():
    refusal = _refusal(_registered(), village="17.71.01.1002")
    assert refusal is not None and refusal.code == "invalid_proposal"
    assert [(e["field"], e["type"]) for e in refusal.errors] == [("village_code", "mismatch")]


def test_a_named_person_who_is_not_a_current_resident_is_named_in_the_refusal():
    stranger = "1771016101090004"
    refusal = _refusal(_registered(), _assistance(residents=(ANDI, SARI, stranger)))
    assert refusal is not None and refusal.code == "not_a_resident"
    assert [e["field"] for e in refusal.errors] == ["assistance.residents[1]", "assistance.residents[2]"]


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "institution_assistance", "village_code": VILLAGE, "institution_id": IID,
        "assistance": {"program": "ATENSI", "starts_on": "2027-04-01", "ends_on": "2027-06-30",
                       "basis": "per_institution"},
    }  # fmt: skip
    body.update(changes)
    return body


def test_the_door_wants_the_institution_id_and_the_assistance_and_nothing_of_a_record():
    assert door_errors(ProposalIn.model_validate(_body())) == []
    named = {
        e.field: e.code
        for e in door_errors(
            ProposalIn.model_validate(_body(institution_id=None, assistance=None, evidence_note="x"))
        )
    }
    assert named == {"institution_id": "missing", "assistance": "missing", "evidence_note": "forbidden"}


@pytest.mark.parametrize(
    ("assistance", "fragment"),
    [
        ({"basis": "per_resident"}, "names the residents"),
        ({"residents": [ANDI]}, "names no residents"),
        ({"basis": "per_resident", "residents": [ANDI, ANDI]}, "named twice"),
        ({"ends_on": "2027-03-31"}, "ends_on is before starts_on"),
        ({"ends_on": "2028-06-30"}, "a year at most"),
    ],
)
def test_an_assistance_that_cannot_be_true_is_refused_by_the_contract(
    assistance: dict[str, Any], fragment: str
):
    body = _body()
    with pytest.raises(ValueError, match=fragment):
        ProposalIn.model_validate({**body, "assistance": {**body["assistance"], **assistance}})


def test_other_kinds_carry_no_assistance():
    change = {
        "kind": "institution_closure", "village_code": VILLAGE, "institution_id": IID,
        "closure_reason": "dissolved", "evidence_note": "Akta pembubaran 12/2027",
        "assistance": _body()["assistance"],
    }  # fmt: skip
    assert {e.field: e.code for e in door_errors(ProposalIn.model_validate(change))} == {
        "assistance": "forbidden"
    }


def test_a_quarter_is_its_first_to_its_last_day_and_not_given_beside_dates():
    body = _body()
    quarterly = {
        **body,
        "assistance": {"program": "ATENSI", "quarter": "2027-Q4", "basis": "per_institution"},
    }
    assistance = ProposalIn.model_validate(quarterly).assistance
    assert assistance is not None
    assert (assistance.starts_on, assistance.ends_on) == (dt.date(2027, 10, 1), dt.date(2027, 12, 31))
    with pytest.raises(ValueError, match="not both"):
        ProposalIn.model_validate({**body, "assistance": {**body["assistance"], "quarter": "2027-Q2"}})
    with pytest.raises(ValueError, match="reads like '2027-Q2'"):
        ProposalIn.model_validate({**body, "assistance": {**quarterly["assistance"], "quarter": "2027-Q5"}})
