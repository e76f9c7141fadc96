import datetime as dt

import pytest
from pydantic import BaseModel, ValidationError

from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.identifiers import (
    KkNumber,
    Nik,
    NikParts,
    _is_valid_listed_nik,
    _parse_nik_fully,
    check_kk_number,
    check_nik,
    nik_birth_dates,
    nik_matches,
    parse_nik,
)
from dtks_contracts.vocabulary.household_attributes import Sex

REAL_NIK = "1771015203850001"  # Selebar, Kota Bengkulu; woman born 12-03-1985


class Person(BaseModel):
    nik: Nik
    kk_number: KkNumber | None = None


def test_parses_a_real_nik_of_a_woman():
    assert parse_nik(REAL_NIK) == NikParts(
        district_code="17.71.01",
        birth_day=12,
        birth_month=3,
        birth_year2=85,
        sex_female=True,
        serial="0001",
    )


def test_parses_a_man_without_the_day_offset():
    parts = parse_nik("1771011203850001")
    assert (parts.birth_day, parts.sex_female) == (12, False)


@pytest.mark.parametrize(
    ("nik", "fragment"),
    [
        ("1771995203850001", "district prefix 177199 names no district"),
        ("9901015203850001", "district prefix 990101 names no district"),
        ("1771013102850001", "birth date 31-02-85 exists neither in 1985 nor in 2085"),
        ("1771013203850001", "birth day 32 is impossible"),
        ("1771017203850001", "birth day 72 is impossible"),
        ("1771010003850001", "birth day 00 is impossible"),
        ("1771014003850001", "birth day 40 is impossible"),
        ("1771011213850001", "birth month 13 is impossible"),
        ("1771011200850001", "birth month 00 is impossible"),
        ("1771012902850001", "birth date 29-02-85 exists neither in 1985 nor in 2085"),
        ("1771016902850001", "birth date 29-02-85 exists neither"),  # same for a woman (+40)
        ("1771015203850000", "serial 0000 is invalid"),
        ("177101520385001", "must be exactly 16 digits, got 15 characters"),
        ("17710152038500011", "must be exactly 16 digits, got 17 characters"),
        ("", "must be exactly 16 digits, got 0 characters"),
        ("17710152O3850001", "must contain digits 0-9 only"),
        ("1771015203850 01", "must contain digits 0-9 only"),
        ("177101520385000١", "must contain digits 0-9 only"),  # an Arabic-Indic digit
    ],
)
def test_rejects_invalid_niks_with_a_precise_message(nik, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_nik(nik)


def test_error_messages_do_not_reveal_the_full_nik():
    with pytest.raises(ValueError) as raised:
        parse_nik("1771015203850000")
    assert "1771015203850000" not in str(raised.value)
    assert str(raised.value).startswith("NIK 177101... :")


def test_feb_29_is_accepted_when_either_century_is_a_leap_year():
    assert nik_birth_dates("1771012902840001") == (dt.date(1984, 2, 29), dt.date(2084, 2, 29))
    # 1900 was not a leap year but 2000 was: "00" is fine.
    assert nik_birth_dates("1771012902000001") == (dt.date(2000, 2, 29),)
    assert nik_birth_dates("1771016902040001") == (dt.date(1904, 2, 29), dt.date(2004, 2, 29))


def test_nik_matches_birth_date_and_sex():
    assert nik_matches(REAL_NIK, dt.date(1985, 3, 12), "female")
    assert nik_matches(REAL_NIK, dt.date(2085, 3, 12), "female")  # the NIK cannot tell the century
    assert not nik_matches(REAL_NIK, dt.date(1985, 3, 12), "male")
    assert not nik_matches(REAL_NIK, dt.date(1985, 3, 13), "female")
    assert not nik_matches(REAL_NIK, dt.date(1986, 3, 12), "female")
    with pytest.raises(ValueError):
        nik_matches("1771015203850000", dt.date(1985, 3, 12), "female")


def test_kk_number_checks_length_digits_and_district_prefix():
    assert check_kk_number("1771010101200001") == "1771010101200001"
    with pytest.raises(
        ValueError, match=r"KK number 177199\.\.\. : district prefix 177199 names no district"
    ):
        check_kk_number("1771990101200001")
    with pytest.raises(ValueError, match="must be exactly 16 digits"):
        check_kk_number("177101010120000")
    with pytest.raises(ValueError, match="digits 0-9 only"):
        check_kk_number("17710101012000a1")


def test_pydantic_types_validate_and_hide_nothing_else():
    person = Person(nik=REAL_NIK, kk_number="1771010101200001")
    assert person.nik == REAL_NIK
    with pytest.raises(ValidationError, match="names no district"):
        Person(nik="1771995203850001")
    with pytest.raises(ValidationError, match="names no district"):
        Person(nik=REAL_NIK, kk_number="1771990101200001")
    with pytest.raises(ValidationError):
        Person(nik=1771015203850001)  # a number loses leading zeros of other provinces: text only


def test_history_is_read_without_the_region_look_up_but_with_the_format_checks():
    # A district that a later region list no longer has must not make stored events unreadable.
    recoded = "9101015203850001"  # Papua's 91.01 regencies were re-coded in 2022
    with pytest.raises(ValidationError):
        Person(nik=recoded)
    assert Person.model_validate({"nik": recoded}, context=dict(HISTORICAL_READ)).nik == recoded
    with pytest.raises(ValidationError, match="serial 0000"):
        Person.model_validate({"nik": "9101015203850000"}, context=dict(HISTORICAL_READ))
    assert check_nik(recoded, must_exist=False) == recoded


def test_the_fast_check_agrees_with_the_full_parse_on_every_date_field():
    # Validation accepts most NIKs through set look-ups (identifiers._is_valid_listed_nik) and
    # sends the rest through the full parse; both must agree on every DDMMYY, for either sex.
    for day_field in range(100):
        for month in range(14):
            for year2 in range(100):
                nik = f"177101{day_field:02d}{month:02d}{year2:02d}0001"
                try:
                    expected = _parse_nik_fully(nik, must_exist=True)
                except ValueError:
                    expected = None
                assert _is_valid_listed_nik(nik) == (expected is not None), nik
                if expected is not None:
                    assert parse_nik(nik) == expected, nik


@pytest.mark.parametrize(
    "nik",
    [
        REAL_NIK,
        "1771015203850000",  # serial 0000
        "1771995203850001",  # no such district
        "9101015203850001",  # re-coded district: valid only when reading history
        "1771012902850001",  # 29 February of a year that is leap in neither century
        "1771012902000001",
        "177101520385000١",
        "17710152038500011",
    ],
)
def test_fast_and_full_paths_agree_in_both_contexts(nik):
    for must_exist, context in ((True, None), (False, dict(HISTORICAL_READ))):
        try:
            expected: object = _parse_nik_fully(nik, must_exist=must_exist)
        except ValueError as error:
            expected = str(error)
        try:
            actual: object = parse_nik(nik, must_exist=must_exist)
        except ValueError as error:
            actual = str(error)
        assert actual == expected
        try:
            Person.model_validate({"nik": nik}, context=context)
            valid = True
        except ValidationError as error:
            valid = False
            assert str(expected) in str(error)
        assert valid == (not isinstance(expected, str))


def test_nik_matches_takes_the_sex_as_member_or_text():
    assert nik_matches(REAL_NIK, dt.date(1985, 3, 12), Sex.FEMALE)
    assert not nik_matches(REAL_NIK, dt.date(1985, 3, 12), Sex.MALE)
    assert nik_matches("1771011203850001", dt.date(1985, 3, 12), Sex.MALE)
    with pytest.raises(ValueError):
        nik_matches(REAL_NIK, dt.date(1985, 3, 12), "woman")
    with pytest.raises(ValueError, match="names no district"):
        nik_matches("1771995203850001", dt.date(1985, 3, 12), "female")


def test_kk_numbers_of_unlisted_districts_are_read_from_history_only():
    recoded = "9101010101200001"
    with pytest.raises(ValidationError, match="names no district"):
        Person(nik=REAL_NIK, kk_number=recoded)
    read = Person.model_validate({"nik": REAL_NIK, "kk_number": recoded}, context=dict(HISTORICAL_READ))
    assert read.kk_number == recoded
    with pytest.raises(ValidationError, match="digits 0-9 only"):
        Person.model_validate(
            {"nik": REAL_NIK, "kk_number": "91010101012000a1"}, context=dict(HISTORICAL_READ)
        )
