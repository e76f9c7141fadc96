"""The village pages' pure parts: forms filled from what was sent or registered and made back into
bodies that keep what the form does not show, the deactivation form's errors, the catalogue's words
for the contracts' codes, dates written in Indonesian."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dtks_console.dates import day, moment
from dtks_console.i18n import translations
from dtks_console.proposal_returns import return_reasons
from dtks_console.village_forms import (
    DEACTIVATION_REASONS,
    DeactivationForm,
    household_form,
    merged_household,
)
from dtks_contracts.vocabulary.reasons import ReasonCode, describe

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "dtks_console" / "templates"
SENT: dict[str, Any] = {
    "kk_number": "1771010211200003",
    "village_code": "17.71.01.1001",
    "household_id": None,
    "address": {"street": "Jl. Merapi No. 12", "rt": "003", "rw": "001", "postal_code": "38211"},
    "members": [
        {
            "nik": "1771011204780001",
            "name": "Budi Santoso",
            "birth_date": "1978-04-12",
            "sex": "male",
            "relation_to_head": "head",
            "education": "senior_secondary",
        },
        {
            "nik": "1771014509820002",
            "name": "Sri Wahyuni",
            "birth_date": "1982-09-05",
            "sex": "female",
            "relation_to_head": "spouse",
            "occupation": "pedagang",
        },
    ],
    "housing": {"floor_material": "earth", "roof_material": "thatch", "floor_area_m2": 24},
    "assets": {"motorcycles": 1},
    "income_band": "below_1m",
    "contact": {"phone": "+6281234567890", "consent": True},
    "welfare_decile": {"decile": 2, "source": "BPS", "as_of": "2026-01-01"},
}


def test_a_form_filled_from_what_was_sent_gives_it_back_with_the_corrections_and_the_rest_untouched() -> None:
    form = household_form(
        SENT,
        idempotency_key="k-1",
        deliberation={"kind": "muskel", "date": "2026-11-02", "minutes_ref": "BA-07"},
        programs=["PKH"],
    )
    assert form.values["kk_number"] == SENT["kk_number"]
    assert form.values["deliberation_held_on"] == "2026-11-02"
    assert form.members[1]["name"] == "Sri Wahyuni" and form.programs == ["PKH"]
    form.values["address_street"] = "Jl. Merapi No. 21"
    form.values["floor_material"] = "ceramic"
    form.members[1]["name"] = "Sri Wahyuningsih"
    household = merged_household(form, SENT, "17.71.01.1001")
    assert household["address"] == {
        "street": "Jl. Merapi No. 21",
        "rt": "003",
        "rw": "001",
        "postal_code": "38211",
    }
    assert household["housing"] == {
        "floor_material": "ceramic",
        "roof_material": "thatch",
        "floor_area_m2": 24,
        "wall_material": None,
    }
    assert household["members"][1]["name"] == "Sri Wahyuningsih"
    assert household["members"][1]["occupation"] == "pedagang"  # not on the form: kept
    assert household["members"][0]["education"] == "senior_secondary"
    assert household["assets"] == {"motorcycles": 1} and household["contact"] == SENT["contact"]
    assert "welfare_decile" not in household  # set centrally, never proposed back


def test_a_program_unticked_on_a_correction_is_not_carried_back_in_from_the_register() -> None:
    registered = {**SENT, "programs": ["BPNT", "PKH"]}
    form = household_form(registered, idempotency_key="k-2", programs=["BPNT"])
    household = merged_household(form, registered, "17.71.01.1001")
    assert "programs" not in household and form.programs == ["BPNT"]


def test_a_member_row_emptied_leaves_the_household_and_a_new_row_joins_it_without_anyone_elses_data() -> None:
    form = household_form(SENT, idempotency_key="k")
    form.members[1] = dict.fromkeys(form.members[1], "")
    form.add_row()
    form.members[2] = {
        "nik": "1771010101100003",
        "name": "Anak",
        "birth_date": "2010-01-01",
        "sex": "male",
        "relation_to_head": "child",
    }
    members = merged_household(form, SENT, "17.71.01.1001")["members"]
    assert [m["name"] for m in members] == ["Budi Santoso", "Anak"]
    assert "occupation" not in members[1] and members[0]["education"] == "senior_secondary"


def test_the_deactivation_form_puts_each_refusal_beside_its_field_and_sends_the_contracts_reason() -> None:
    form = DeactivationForm.from_post(
        "hh-1",
        {
            "reason": "moved_away",
            "evidence_note": " surat pindah ",
            "deliberation_kind": "musdes",
            "idempotency_key": "k",
        },
    )
    body = form.body("17.71.01.1001")
    assert body["reason"] == "moved_away" and body["evidence_note"] == "surat pindah"
    assert body["household_id"] == "hh-1" and body["deliberation"]["held_on"] is None
    form.refused(
        {
            "detail": "Fields to correct",
            "errors": [
                {"field": "body.deliberation.held_on", "message": "Field required"},
                {"field": "reason", "message": "Value error, Use one of died, moved"},
            ],
        }
    )
    assert form.errors == {"deliberation_held_on": ["Field required"], "reason": ["Use one of died, moved"]}
    assert DEACTIVATION_REASONS == ("died", "moved_away", "no_longer_eligible", "duplicate", "not_found")


def test_a_returns_reasons_are_its_latest_returns_codes_with_the_contracts_sentences() -> None:
    proposal = {
        "timeline": [
            {"event": "verification.returned_at_tier", "reasons": ["OTHER"]},
            {"event": "proposal.resubmitted"},
            {
                "event": "verification.returned_at_tier",
                "reasons": [
                    "ADDRESS_NOT_FOUND",
                    {"code": "NAME_MISMATCH", "message": "member 1: Budi vs Budy"},
                ],
            },
        ]
    }
    assert return_reasons(proposal) == [
        {"code": "ADDRESS_NOT_FOUND", "sentence": describe(ReasonCode.ADDRESS_NOT_FOUND), "finding": ""},
        {
            "code": "NAME_MISMATCH",
            "sentence": describe(ReasonCode.NAME_MISMATCH),
            "finding": "member 1: Budi vs Budy",
        },
    ]


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_reason_of_the_contracts_reads_as_words_and_its_sentence_in_indonesian(
    code: ReasonCode,
) -> None:
    indonesian = translations("id")
    assert indonesian.gettext(f"reason:{code}") != f"reason:{code}"
    assert indonesian.gettext(describe(code)) != describe(code)
    assert translations("en").gettext(f"reason:{code}") != f"reason:{code}"


@pytest.mark.parametrize(
    "key",
    [
        *(f"deactivation:{r}" for r in DEACTIVATION_REASONS),
        *(f"import:{s}" for s in ("staged", "processing", "completed", "failed", "cancelled")),
        "household:active",
        "household:deactivated",
    ],
)
def test_the_village_pages_coded_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("id").gettext(key) != key
    assert translations("en").gettext(key) != key


def test_texts_with_an_apostrophe_the_catalogue_test_cannot_see_are_translated_too() -> None:
    # The first slice's check reads _("...") without quotes inside; these hold one.
    quoted = re.compile(r'_\("([^"]*\'[^"]*)"\)')
    found = {m.group(1) for t in TEMPLATES.glob("*.html") for m in quoted.finditer(t.read_text())}
    assert "The verifier's note" in found
    indonesian = translations("id")
    assert sorted(m for m in found if indonesian.gettext(m) == m) == []


def test_dates_are_written_as_indonesian_writes_them_and_moments_in_wib() -> None:
    assert day("2026-11-02", "id") == "2 November 2026"
    assert day("2026-12-04", "id") == "4 Desember 2026"
    assert day("2026-12-04", "en") == "December 4, 2026"
    assert moment("2026-12-04T01:05:00+00:00", "id") == "4 Desember 2026 08.05 WIB"
    assert moment("2026-12-04T17:30:00+00:00", "id") == "5 Desember 2026 00.30 WIB"
    assert day("not a date", "id") == "not a date" and moment(None, "id") == ""


def test_a_rejected_rows_code_is_said_in_the_operators_language_and_an_unknown_one_as_the_service_said() -> (
    None
):
    from dtks_console.import_reasons import row_reason
    from dtks_proposal.domain.bulk_file import REJECTION_CODES

    indonesian, english = translations("id").gettext, translations("en").gettext
    pointer = {"row": 3, "field": "kk_number", "code": "household_rejected", "params": {"rows": "2"}}
    assert row_reason({**pointer, "reason": "household x rejected"}, indonesian) == (
        "Keluarga ini ditolak karena baris 2."
    )
    assert "row(s) 2" in row_reason(pointer, english)
    nik = {"row": 2, "field": "nik", "code": "invalid_value", "reason": "NIK 12*** must have 16 digits"}
    assert row_reason(nik, indonesian).startswith("NIK tidak sah")
    assert row_reason({**nik, "field": "occupation"}, indonesian).startswith("Isi kolom occupation tidak sah")
    new = {"row": 2, "field": "village_code", "code": "window_closed_x", "reason": "closed until 2099-01-01"}
    assert row_reason(new, indonesian) == "closed until 2099-01-01"
    # Every code the proposal service gives has its sentence in both languages.
    for code in REJECTION_CODES:
        for gettext in (indonesian, english):
            assert gettext(f"import-reason:{code}") != f"import-reason:{code}", code
