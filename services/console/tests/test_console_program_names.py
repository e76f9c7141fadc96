"""The social programs read as their names in the reader's language on every page that lists them,
while the forms still send the contracts' codes."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import translations
from dtks_console.pages import LANGUAGE_COOKIE, render
from dtks_contracts.vocabulary.programs import Program


def _request(lang: str, path: str = "/proposals/new") -> Request:
    cookie = f"{LANGUAGE_COOKIE}={lang}".encode()
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"",
                    "headers": [(b"cookie", cookie)], "server": ("console", 80), "scheme": "http",
                    "root_path": ""})  # fmt: skip


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_program_has_a_name_in_both_languages(lang: str) -> None:
    gettext = translations(lang).gettext
    for p in Program:
        assert gettext(f"program:{p.value}") != f"program:{p.value}", p


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("id", ["Penerima Bantuan Iuran Jaminan Kesehatan (PBI-JK)", "Subsidi listrik PLN (450/900 VA)"]),
        (
            "en",
            ["Health insurance premiums paid by the state (PBI-JK)", "PLN electricity subsidy (450/900 VA)"],
        ),
    ],
)
def test_the_proposal_forms_programs_show_their_names_and_send_their_codes(
    lang: str, shown: list[str]
) -> None:
    form = HouseholdForm(programs=["PBI_JK"])
    page = render(
        _request(lang), "proposal_form.html", user={"name": "Operator", "role": "village_operator",
        "region": "17.71.01.1001"}, csrf="c", form=form, programs=[p.value for p in Program],
        choices=CHOICES, freezes=[],
    ).body.decode()  # fmt: skip
    labels = re.findall(
        r'<input type="checkbox" name="programs" value="([A-Z_]+)"[^>]*>\s*([^<]+)</label>', page
    )
    assert [code for code, _ in labels] == [p.value for p in Program]
    names = [name.strip() for _, name in labels]
    for name in shown:
        assert name in names
    assert "PBI_JK" not in names and "ELECTRICITY_SUBSIDY" not in names
    assert re.search(r'value="PBI_JK"\s+checked', page)


def test_the_dashboard_recap_and_the_citizens_check_name_the_programs() -> None:
    recap = {
        "households": 3,
        "people": 12,
        "as_of_decree": None,
        "by_region": [],
        "by_program": [{"program": "PKH", "households": 3, "people": 12}],
    }
    dashboard = render(_request("en", "/dashboard"), "dashboard.html", user={"name": "M", "role": "ministry_verifier",
                       "region": "ID"}, csrf="c", queues=None, queues_refused=None, chart="", recap=recap,
                       recap_refused=None, place=str).body.decode()  # fmt: skip
    assert "<td>Family Hope Program (PKH)</td>" in dashboard
    check = render(_request("id", "/check"), "check.html", user=None, typed={}, errors={},
                   result={"registered": True, "programs": ["BLT"]}).body.decode()  # fmt: skip
    assert "Bantuan Langsung Tunai (BLT)" in check
