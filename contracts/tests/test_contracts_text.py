"""Text fields refuse control and text-direction characters on new input, never on stored history."""

from __future__ import annotations

import pydantic
import pytest

from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.household import Assets, Member
from dtks_contracts.text import FreeText, check_text, storable

MEMBER = {
    "nik": "1771011204780001",
    "name": "Budi Santoso",
    "birth_date": "1978-04-12",
    "sex": "male",
    "relation_to_head": "head",
}


@pytest.mark.parametrize("bad", ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\u202e", "\u2066", "\t"])
def test_a_name_with_a_control_or_direction_character_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Member.model_validate({**MEMBER, "name": f"Budi{bad}Santoso"})
    assert [e["loc"] for e in caught.value.errors()] == [("name",)]
    assert f"U+{ord(bad):04X}" in caught.value.errors()[0]["msg"]


def test_free_text_keeps_tab_and_line_breaks_but_not_nul() -> None:
    adapter = pydantic.TypeAdapter(FreeText)
    assert (
        adapter.validate_python("Rumah roboh.\r\n\tKeluarga pindah.") == "Rumah roboh.\r\n\tKeluarga pindah."
    )
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python("Rumah\u0000roboh")


def test_stored_history_with_a_control_character_stays_readable() -> None:
    member = Member.model_validate({**MEMBER, "name": "Budi\u0007"}, context=HISTORICAL_READ)
    assert member.name == "Budi\u0007"
    assert Assets.model_validate({"bicycles": 10**30}, context=HISTORICAL_READ).bicycles == 10**30


def test_an_impossible_count_is_refused_and_a_large_real_one_is_not() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Assets.model_validate({"bicycles": 10**30})
    assert caught.value.errors()[0]["loc"] == ("bicycles",)
    assert Assets.model_validate({"bicycles": 12, "cattle": 400, "land_m2": 250_000}).cattle == 400


def test_text_the_system_writes_itself_shows_refused_characters_as_their_codes() -> None:
    assert storable("a\u0000b\u202e") == "a<U+0000>b<U+202E>"
    assert check_text("Jl. Merapi No. 12") == "Jl. Merapi No. 12"
