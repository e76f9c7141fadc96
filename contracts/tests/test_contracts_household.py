import datetime as dt

import pytest
from pydantic import ValidationError

from dtks_contracts.household import Assets, Contact, FieldVisit, Housing, Member, WelfareDecile
from dtks_contracts.vocabulary import Program, RelationToHead


def test_a_minimal_household_is_valid_and_frozen(make_household):
    household = make_household()
    assert household.heads()[0].name == "Siti Aminah"
    assert household.member("1771011507830002") is not None
    assert household.housing is None  # completeness is for the verification rules, not the parser
    with pytest.raises(ValidationError):
        household.kk_number = "1771010101200002"  # type: ignore[misc]


def test_identifiers_must_be_valid(make_household):
    with pytest.raises(ValidationError, match="names no district"):
        make_household(kk_number="1771990101200001")
    with pytest.raises(ValidationError, match="is a district code; expected a village code"):
        make_household(village_code="17.71.01")
    with pytest.raises(ValidationError, match="names no village"):
        make_household(village_code="17.71.01.9999")
    with pytest.raises(ValidationError, match="serial 0000"):
        Member(
            nik="1771015203850000",
            name="X",
            birth_date=dt.date(1985, 3, 12),
            sex="female",
            relation_to_head="head",
        )


def test_validation_errors_do_not_echo_personal_data(make_household):
    with pytest.raises(ValidationError) as raised:
        make_household(kk_number="1771990101200001")
    assert "1771990101200001" not in str(raised.value)


def test_unknown_fields_are_rejected_on_input(make_household):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        make_household(phone="0812")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Housing(floor_materal="earth")  # type: ignore[call-arg]


def test_a_household_needs_members(make_household):
    with pytest.raises(ValidationError, match="at least 1 item"):
        make_household(members=())


def test_programs_are_a_set_in_canonical_order(make_household):
    household = make_household(programs=[Program.PKH, Program.BLT, Program.PKH])
    assert household.programs == (Program.BLT, Program.PKH)


def test_impossible_values_are_rejected_but_implausible_ones_are_left_to_verification():
    Housing(floor_area_m2=2.0)  # tiny for a family, yet a verifier's call (IMPLAUSIBLE_VALUE)
    with pytest.raises(ValidationError):
        Housing(floor_area_m2=0)
    with pytest.raises(ValidationError):
        Assets(motorcycles=-1)
    with pytest.raises(ValidationError):
        WelfareDecile(decile=11, source="BPS DTSEN", as_of=dt.date(2025, 4, 1))
    with pytest.raises(ValidationError):
        Contact(phone="0812-3456", consent=True)
    assert Contact(phone="+6281234567890", consent=False).consent is False


def test_a_gps_position_has_both_coordinates():
    visit = dict(visit_date=dt.date(2025, 1, 10), officer="Pendamping 12")
    assert FieldVisit(**visit, latitude=-3.83, longitude=102.31).latitude == -3.83
    assert FieldVisit(**visit).latitude is None
    with pytest.raises(ValidationError, match="both latitude and longitude"):
        FieldVisit(**visit, latitude=-3.83)


def test_heads_lists_every_member_marked_head(make_household):
    household = make_household()
    spouse = household.members[1].model_copy(update={"relation_to_head": RelationToHead.HEAD})
    twice = make_household(members=(household.members[0], spouse))
    assert len(twice.heads()) == 2  # MULTIPLE_HEADS is a finding for the verifier, not a parse error
