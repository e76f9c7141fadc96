"""The console's pure parts: the message catalogue, the form's field names, PKCE, redirects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dtks_console.app import QUEUE_OF_ROLE, _local
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import translations
from dtks_console.pkce import challenge_of
from dtks_contracts.vocabulary.reasons import REVIEW_CODES, describe
from dtks_contracts.vocabulary.roles import Role

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "dtks_console" / "templates"
LITERAL = re.compile(r"""_\((["'])([^"']+)\1\)""")


def _template_messages() -> set[str]:
    return {m.group(2) for t in TEMPLATES.glob("*.html") for m in LITERAL.finditer(t.read_text())}


def test_every_text_of_the_templates_has_an_indonesian_translation() -> None:
    indonesian = translations("id")
    missing = sorted(m for m in _template_messages() if indonesian.gettext(m) == m and m != "Status")
    assert _template_messages(), "the pattern found no messages"
    assert missing == []


@pytest.mark.parametrize(
    "key",
    [
        *(f"status:{s}" for s in ("submitted", "in_verification", "returned", "accepted", "determined")),
        *(f"reason:{code}" for code in REVIEW_CODES),
        *(f"field:{name}" for name in CHOICES),
        "event:verification.verified_at_tier",
        "event:verification.returned_at_tier",
        "decision:forward",
        "decision:return",
    ],
)
def test_coded_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("id").gettext(key) != key
    assert translations("en").gettext(key) != key


def test_the_reasons_a_verifier_gives_are_explained_to_the_village_in_indonesian() -> None:
    for code in REVIEW_CODES:
        assert translations("id").gettext(describe(code)) != describe(code), code


def test_each_verifying_role_has_its_tiers_queue() -> None:
    assert QUEUE_OF_ROLE[Role.DISTRICT_VERIFIER] == "district"
    assert QUEUE_OF_ROLE[Role.REGENT] == "regent"
    assert Role.VILLAGE_OPERATOR not in QUEUE_OF_ROLE


def test_the_services_field_names_land_on_the_form_fields_that_hold_them() -> None:
    form = HouseholdForm.blank("key")
    form.members[0]["name"] = "Budi"
    form.members[2]["nik"] = "123"  # row 1 left empty: the service's member 1 is the form's row 2
    form.refused(
        {
            "detail": "The request has invalid fields.",
            "errors": [
                {"field": "household.members[1].nik", "message": "must be 16 digits"},
                {"field": "household.members.0.birth_date", "message": "missing"},
                {"field": "deliberation.held_on", "message": "not a date"},
                {"field": "household.housing.roof_material", "message": "missing"},
                {"field": "household.members", "message": "no head"},
                {"field": "request", "message": "something else"},
            ],
        }
    )
    assert form.errors == {
        "members-2-nik": ["must be 16 digits"],
        "members-0-birth_date": ["missing"],
        "deliberation_held_on": ["not a date"],
        "roof_material": ["missing"],
        "members": ["no head"],
        "": ["something else"],
    }
    assert form.detail == "The request has invalid fields."


def test_the_body_sends_what_was_typed_and_leaves_empty_rows_out() -> None:
    form = HouseholdForm.from_post(
        {
            "member_rows": "3",
            "kk_number": " 1771010211200003 ",
            "address_street": "Jl. Merapi",
            "members-1-nik": "1771011204780001",
            "members-1-name": "Budi",
            "deliberation_kind": "muskel",
        },
        ["PKH", "NOT_A_PROGRAM"],
    )
    body = form.body("17.71.01.1001")
    assert body["household"]["kk_number"] == "1771010211200003"
    assert [m["nik"] for m in body["household"]["members"]] == ["1771011204780001"]
    assert body["household"]["address"] == {"street": "Jl. Merapi"}
    assert body["programs"] == ["PKH"]
    assert body["village_code"] == "17.71.01.1001"


def test_the_pkce_challenge_is_rfc_7636s_s256() -> None:
    # The example of RFC 7636, appendix B.
    assert (
        challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "x"])
def test_after_sign_in_the_console_redirects_only_to_its_own_pages(target: str) -> None:
    assert _local(target) == "/"
    assert _local("/proposals?status=returned") == "/proposals?status=returned"
