"""The pure parts of the re-verification rounds' pages: every text of their templates and every coded
label in the catalogue of both languages, the opening form and the visit form as the round API takes
them, and each refusal put beside the field it names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dtks_console.app import build_app
from dtks_console.i18n import translations
from dtks_console.round_pages import (
    FLAGS,
    MODES,
    OPEN_FIELD_OF_CODE,
    OUTCOMES,
    SAID_IN_CATALOGUE,
    VISIT_FIELD_OF_CODE,
    kept_photo,
    open_field,
    photo_ref,
    placed,
    round_body,
    shows_villages,
    visit_body,
    visit_field,
)
from dtks_console.settings import ConsoleSettings

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "dtks_console" / "templates"
ROUND_TEMPLATES = (
    "rounds.html", "round.html", "round_village.html", "round_visit.html", "_round_counts.html", "base.html",
    "dashboard.html",
)  # fmt: skip
LITERAL = re.compile(r"""_\("([^"]+)"\)|_\('([^']+)'\)""")
ROUNDS_PO = {lang: TEMPLATES.parent / "locale" / lang / "LC_MESSAGES" / "rounds.po" for lang in ("id", "en")}


def _messages() -> set[str]:
    return {
        m.group(1) or m.group(2)
        for n in ROUND_TEMPLATES
        for m in LITERAL.finditer((TEMPLATES / n).read_text())
    }


def test_every_text_of_the_rounds_pages_has_an_indonesian_translation() -> None:
    found = _messages()
    assert "Open the round and issue its prelist" in found and "Record the visit" in found
    same_in_both = {"Status"}
    assert sorted(m for m in found - same_in_both if translations("id").gettext(m) == m) == []


def test_every_message_of_the_rounds_catalogue_is_in_both_languages() -> None:
    ids = {lang: set(re.findall(r'^msgid "(.+)"$', po.read_text(), re.M)) for lang, po in ROUNDS_PO.items()}
    assert ids["id"] == ids["en"] and len(ids["id"]) > 50
    for message in ids["id"]:
        assert translations("en").gettext(message) != "" and translations("id").gettext(message) != ""


@pytest.mark.parametrize(
    "key",
    [
        *(f"selection:{m}" for m in MODES),
        *(f"flag:{f}" for f in FLAGS),
        *(f"outcome:{o}" for o in OUTCOMES),
        "round:open",
        "round:closed",
        *(f"round-refusal:{c}" for c in (*SAID_IN_CATALOGUE, "photo_too_large", "file_missing")),
    ],
)
def test_the_rounds_coded_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("id").gettext(key) != key
    assert translations("en").gettext(key) != key
    assert translations("id").gettext(key) != translations("en").gettext(key)


def test_a_sample_round_sends_only_what_a_sample_takes_and_counts_typed_as_numbers() -> None:
    form = {"region": " 17.71.01 ", "period_start": "2026-12-07", "period_end": "2027-01-31", "mode": "sample",
            "sample_size": "25", "seed": "", "not_visited_months": "6", "size_limit": ""}  # fmt: skip
    assert round_body(form, ["complaint"]) == {
        "region": "17.71.01",
        "period_start": "2026-12-07",
        "period_end": "2027-01-31",
        "selection": {"mode": "sample", "sample_size": 25, "seed": 0},
    }


def test_a_flagged_round_names_only_known_flags_and_a_limit_typed_wrong_goes_as_typed() -> None:
    form = {
        "region": "17.71",
        "period_start": "",
        "period_end": "",
        "mode": "flagged",
        "size_limit": "seratus",
    }
    body = round_body(form, ["member_died", "made_up"])
    assert body["selection"] == {"mode": "flagged", "flags": ["member_died"]}
    assert body["size_limit"] == "seratus"  # the service names the field, the form shows it there


def test_a_round_refused_for_its_period_is_said_beside_the_last_day_in_the_catalogues_words() -> None:
    refused = placed(
        {
            "status": 422,
            "code": "invalid_round_period",
            "detail": "The round's period ends before it starts.",
        },
        OPEN_FIELD_OF_CODE,
        open_field,
    )
    assert refused["fields"] == {"period_end": [None]}
    assert refused["problem"]["detail_key"] == "round-refusal:invalid_round_period"


def test_a_round_refused_field_by_field_puts_each_error_beside_its_own_field() -> None:
    problem = {
        "status": 422,
        "code": "validation_failed",
        "detail": "invalid",
        "errors": [
            {"field": "body.selection.sample_size", "message": "Input should be greater than or equal to 1"},
            {
                "field": "body.selection",
                "message": "Value error, a sample, and only a sample, gives sample_size",
            },
            {"field": "body.region", "message": "not a region code"},
        ],
    }
    refused = placed(problem, OPEN_FIELD_OF_CODE, open_field)
    assert refused["fields"] == {
        "sample_size": ["Input should be greater than or equal to 1"],
        "mode": ["a sample, and only a sample, gives sample_size"],
        "region": ["not a region code"],
    }


def test_a_round_overlapping_another_is_said_beside_the_region() -> None:
    refused = placed(
        {"status": 409, "code": "round_overlaps", "detail": "overlaps"}, OPEN_FIELD_OF_CODE, open_field
    )
    assert refused["fields"] == {"region": [None]}


def test_a_visit_sends_changes_only_for_a_changed_household_and_reads_a_comma_as_the_decimal_point() -> None:
    form = {"household_id": "h1", "outcome": "changed", "officer": " Rina ", "visit_date": "2026-12-07",
            "latitude": "-3,8004", "longitude": "102.2655", "note": "", "change_address_street": "Jl. Baru 1",
            "change_income_band": "1m_to_2m", "change_kk_number": ""}  # fmt: skip
    photo = photo_ref(b"\x89PNG\r\n\x1a\nrest", "walls")
    body = visit_body(form, photo)
    assert body["latitude"] == -3.8004 and body["officer"] == "Rina" and "note" not in body
    assert body["changes"] == {"address": {"street": "Jl. Baru 1"}, "income_band": "1m_to_2m"}
    assert body["photos"] == [photo] and photo["location"] == f"evidence/{photo['sha256']}"
    assert photo["subject"] == "walls"
    unchanged = visit_body({**form, "outcome": "unchanged"}, None)
    assert "changes" not in unchanged and unchanged["photos"] == []


def test_a_visits_refusals_go_beside_the_fields_they_concern() -> None:
    assert visit_field("body.changes.address.street") == "change_address_street"
    assert visit_field("body.changes.members") == "changes"
    assert visit_field("body.photos.0.sha256") == "photo"
    assert visit_field("body.latitude") == "latitude"
    required = placed(
        {"code": "changes_required", "detail": "needs changes"}, VISIT_FIELD_OF_CODE, visit_field
    )
    assert required["fields"] == {"changes": [None]}
    outside = placed({"code": "visit_outside_period", "detail": "outside"}, VISIT_FIELD_OF_CODE, visit_field)
    assert outside["fields"] == {"visit_date": [None]}
    too_large = placed({"code": "body_too_large", "detail": "too large"}, VISIT_FIELD_OF_CODE, visit_field)
    assert too_large["fields"] == {"photo": [None]}  # the service's body limit on PUT /evidence


def test_villages_are_listed_for_one_district_not_for_a_whole_province() -> None:
    assert shows_villages("17.71.01", "") and shows_villages("17.71", "17.71.02")
    assert not shows_villages("17.71", "") and not shows_villages("17", "")


@pytest.fixture
def console() -> Iterator[TestClient]:
    settings = ConsoleSettings(oidc_issuer="http://127.0.0.1:9/realms/dtks")
    with TestClient(build_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/rounds", "/rounds/r-1", "/rounds/r-1/villages/17.71.01.1001"])
def test_the_rounds_pages_send_a_stranger_to_sign_in(console: TestClient, path: str) -> None:
    answer = console.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next={path}"


def test_a_photo_stored_by_a_refused_try_is_named_again_only_by_a_well_formed_hash() -> None:
    sha = "ab" * 32
    assert kept_photo({"photo_sha256": sha.upper(), "photo_subject": "head"}) == {
        "subject": "head",
        "sha256": sha,
        "location": f"evidence/{sha}",
    }
    assert kept_photo({"photo_sha256": "../../etc/passwd"}) is None
    assert kept_photo({}) is None
