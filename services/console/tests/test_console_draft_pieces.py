"""Pure parts of the life-event drafts' pages: the proposal form each kind of life event pre-fills,
the body sent over the household as the life event leaves it, and every label in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from dtks_console.draft_forms import (
    DISMISSAL_REASONS,
    changed_household,
    correction_body,
    correction_form,
    deactivation_form,
)
from dtks_console.i18n import translations
from dtks_contracts.vocabulary.complaints import DISMISSAL_HINTS

HEAD = {
    "nik": "1771011204780001",
    "name": "Budi Santoso",
    "birth_date": "1978-04-12",
    "sex": "male",
    "relation_to_head": "head",
    "education": "senior_secondary",
}
SPOUSE = {
    "nik": "1771014509820002",
    "name": "Sri Wahyuni",
    "birth_date": "1982-09-05",
    "sex": "female",
    "relation_to_head": "spouse",
    "education": "junior_secondary",
}
CHILD = {
    "nik": "1771010101100003",
    "name": "Andi",
    "birth_date": "2010-01-01",
    "sex": "male",
    "relation_to_head": "child",
    "education": "primary",
}
RECORD: dict[str, Any] = {
    "household_id": "H-1",
    "village_code": "17.71.01.1001",
    "programs": ["PKH"],
    "household": {
        "kk_number": "1771010211200003",
        "village_code": "17.71.01.1001",
        "address": {"street": "Jl. Merapi No. 12", "rt": "003", "rw": "001", "postal_code": "38211"},
        "members": [HEAD, SPOUSE, CHILD],
        "housing": {"floor_material": "earth", "wall_material": "wood", "roof_material": "zinc"},
        "income_band": "below_1m",
        "contact": {"phone": "+6281234567890", "consent": True},
        "programs": ["PKH"],
        "welfare_decile": 2,
    },
}


def _draft(event_type: str, nik: str, **event: Any) -> dict[str, Any]:
    return {
        "draft_id": "D-1",
        "life_event_id": "DUK-1",
        "event_type": event_type,
        "nik": nik,
        "household_id": "H-1",
        "proposal_kind": "correction",
        "note": "Remove the member who died on 2026-02-01.",
        "life_event": {"nik": nik, **event},
    }


def test_a_death_takes_the_member_off_and_the_sent_household_keeps_what_the_form_does_not_show() -> None:
    draft = _draft("civil_registry.person_died", SPOUSE["nik"], died_on="2026-02-01")
    form = correction_form(draft, RECORD, "key-1")
    assert [m["nik"] for m in form.members] == [HEAD["nik"], CHILD["nik"]]
    form.values |= {
        "deliberation_kind": "muskel",
        "deliberation_held_on": "2026-02-10",
        "deliberation_minutes_ref": "BA-03/II/2026",
    }
    body = correction_body(draft, RECORD, form)
    assert (body["kind"], body["household_id"]) == ("correction", "H-1")
    members = body["household"]["members"]
    # The rows after the one taken off keep their own unseen fields (not the member's above them).
    assert [(m["nik"], m["education"]) for m in members] == [
        (HEAD["nik"], "senior_secondary"),
        (CHILD["nik"], "primary"),
    ]
    assert body["household"]["contact"] == {"phone": "+6281234567890", "consent": True}
    assert "welfare_decile" not in body["household"] and body["programs"] == ["PKH"]


def test_a_move_takes_the_member_off_a_birth_adds_the_child_and_a_new_card_its_number() -> None:
    moved = changed_household(
        _draft("civil_registry.person_moved", CHILD["nik"], to_village="17.71.02.1001"), RECORD["household"]
    )
    assert [m["nik"] for m in moved["members"]] == [HEAD["nik"], SPOUSE["nik"]]
    born = changed_household(
        _draft("civil_registry.child_born", "1771015002260004", born_on="2026-02-10"), RECORD["household"]
    )
    assert born["members"][-1] == {
        "nik": "1771015002260004",
        "birth_date": "2026-02-10",
        "relation_to_head": "child",
    }
    card = changed_household(
        _draft("civil_registry.family_card_changed", HEAD["nik"], new_kk_number="1771010211260009"),
        RECORD["household"],
    )
    assert card["kk_number"] == "1771010211260009" and len(card["members"]) == 3
    assert RECORD["household"]["kk_number"] == "1771010211200003"  # the record itself untouched


def test_the_last_members_death_fills_the_deactivation_with_its_reason_and_the_civil_registrys_event() -> (
    None
):
    draft = {
        **_draft("civil_registry.person_died", HEAD["nik"]),
        "proposal_kind": "deactivation",
        "deactivation_reason": "died",
        "note": "The only member died on 2026-02-01 (civil registry).",
    }
    form = deactivation_form(draft, "key-2")
    assert form.values["reason"] == "died"
    assert "DUK-1" in form.values["evidence_note"]
    assert form.body("17.71.01.1001")["household_id"] == "H-1"


@pytest.mark.parametrize(
    "key",
    [
        *(f"dismissal:{r}" for r in DISMISSAL_REASONS),
        *(
            f"life-event:civil_registry.{t}"
            for t in ("person_died", "person_moved", "child_born", "family_card_changed")
        ),
    ],
)
def test_the_life_event_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("en").gettext(key) != key
    assert translations("id").gettext(key) != key


def test_every_dismissal_hint_of_the_contracts_reads_in_indonesian() -> None:
    for hint in DISMISSAL_HINTS.values():
        assert translations("id").gettext(hint) != hint, hint


@pytest.mark.parametrize(
    ("event_type", "kind", "life_event", "said"),
    [
        (
            "civil_registry.person_died",
            "correction",
            {"died_on": "2026-11-01"},
            "meninggal pada 1 November 2026",
        ),
        ("civil_registry.person_died", "deactivation", {"died_on": "2026-11-01"}, "nonaktifkan rumah tangga"),
        (
            "civil_registry.person_moved",
            "correction",
            {"moved_on": "2026-10-05", "to_village": "17.71.02.1003"},
            "pindah ke desa/kelurahan 17.71.02.1003 pada 5 Oktober 2026",
        ),
        (
            "civil_registry.child_born",
            "correction",
            {"born_on": "2026-10-01"},
            "anak lahir pada 1 Oktober 2026",
        ),
        (
            "civil_registry.family_card_changed",
            "correction",
            {"changed_on": "2026-09-30"},
            "Kartu keluarga berubah",
        ),
    ],
)
def test_what_a_draft_asks_is_said_in_indonesian_from_its_life_event_not_the_services_english_note(
    event_type: str, kind: str, life_event: dict[str, str], said: str
) -> None:
    from dtks_console.dates import day
    from dtks_console.pages import env

    t = translations("id")
    macro = (
        env.get_template("_draft_note.html")
        .make_module({"_": t.gettext, "day": lambda v: day(v, "id")})
        .draft_note
    )
    draft = {
        "event_type": event_type,
        "proposal_kind": kind,
        "life_event": life_event,
        "note": "English note",
    }
    text = str(macro(draft))
    assert said in text
    assert "English note" not in text
