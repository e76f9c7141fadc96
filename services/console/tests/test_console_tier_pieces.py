"""The pure parts of the tiers' pages: every text of their templates in the catalogue (whichever
quotes hold it), the determiner's quarters and cut-off, and the citizen's check refused in the
browser's language before the registry is asked."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dtks_console.agency_pages import subscription_body
from dtks_console.app import build_app
from dtks_console.dashboard_pages import queue_bars
from dtks_console.i18n import translations
from dtks_console.ministry_pages import cutoff_of, periods
from dtks_console.ministry_setup_pages import read_deciles, window_body
from dtks_console.review_pages import PHOTO_SUBJECTS, visit_body
from dtks_console.settings import ConsoleSettings
from dtks_console.svg_chart import Bar, bar_chart
from dtks_contracts.topics import WEBHOOK_EVENT_TYPES

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "dtks_console" / "templates"
TIER_TEMPLATES = (
    "ratification.html", "determination.html", "check.html", "dashboard.html", "review.html", "queue_bulk.html",
    "queue_bulk_result.html", "windows.html", "deciles.html", "audit.html", "agency.html", "agency_deliveries.html",
)  # fmt: skip
# A literal in double quotes may hold an apostrophe ("the decree's month"), one in single quotes not.
LITERAL = re.compile(r"""_\("([^"]+)"\)|_\('([^']+)'\)""")


def _messages(names: tuple[str, ...]) -> set[str]:
    return {m.group(1) or m.group(2) for n in names for m in LITERAL.finditer((TEMPLATES / n).read_text())}


def test_every_text_of_the_tiers_pages_has_an_indonesian_translation() -> None:
    indonesian = translations("id")
    found = _messages(TIER_TEMPLATES)
    assert "The quarter's determination decree" in found
    same_in_both = {"Status"}  # the word is Indonesian too
    assert sorted(m for m in found - same_in_both if indonesian.gettext(m) == m) == []


def test_the_messages_the_pages_choose_in_code_have_an_indonesian_translation() -> None:
    for message in (
        "Give both the first and the last day, or neither.",
        "The quota is a whole number of proposals.",
        "Write the regency's code as two pairs of digits, e.g. 17.71.",
        "The first line must name the columns household_id and decile.",
        "A row needs a household id and a decile from 1 to 10.",
        "Choose the decile file to load.",
        "The file is larger than 8 MB; split it and load each part.",
        "The registry did not finish the verification; try again later.",
        "Choose at least one proposal.",
        "Give the decree's number, its quarter and a cut-off date and time.",
        "The NIK has 16 digits, as on the identity card.",
        "Write the full name as on the identity card.",
    ):
        assert translations("id").gettext(message) != message


def test_a_determiner_chooses_among_this_and_next_years_quarters() -> None:
    assert periods(dt.date(2026, 12, 4)) == [
        "2026-01", "2026-04", "2026-07", "2026-10", "2027-01", "2027-04", "2027-07", "2027-10",
    ]  # fmt: skip


def test_a_cut_off_typed_in_the_form_is_read_as_western_indonesian_time() -> None:
    assert cutoff_of("2026-12-31T23:59:59") == "2026-12-31T23:59:59+07:00"
    assert cutoff_of("2026-12-31T23:59") == "2026-12-31T23:59:00+07:00"
    assert cutoff_of("yesterday") is None
    assert cutoff_of("") is None


@pytest.fixture
def console() -> Iterator[TestClient]:
    settings = ConsoleSettings(
        oidc_issuer="http://127.0.0.1:9/realms/dtks", registry_url="http://127.0.0.1:9"
    )
    with TestClient(build_app(settings)) as client:
        yield client


def test_the_check_page_opens_without_sign_in_in_indonesian(console: TestClient) -> None:
    page = console.get("/check")
    assert page.status_code == 200
    assert "Apakah saya terdaftar di DTKS?" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_malformed_nik_is_refused_beside_its_field_and_what_was_typed_is_kept(console: TestClient) -> None:
    page = console.post("/check", data={"nik": "1771 0101", "name": "Siti Aminah"})
    assert page.status_code == 422
    assert 'id="nik-error"' in page.text
    assert "NIK terdiri dari 16 angka" in page.text
    assert 'value="17710101"' in page.text
    assert 'value="Siti Aminah"' in page.text


def test_a_registry_that_does_not_answer_is_said_politely(console: TestClient) -> None:
    page = console.post("/check", data={"nik": "1771010101800001", "name": "Siti Aminah"})
    assert page.status_code == 503
    assert "Pemeriksaan sedang tidak tersedia" in page.text


@pytest.mark.parametrize("path", ["/ratification", "/determination"])
def test_the_tiers_pages_send_a_stranger_to_sign_in(console: TestClient, path: str) -> None:
    answer = console.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next={path}"


def test_the_chart_draws_one_bar_per_row_scaled_to_the_largest_with_its_number_as_text() -> None:
    svg = bar_chart(
        [Bar("Kecamatan · 17.71.01", 40, "terlama 3 hari", alarm=True), Bar("Provinsi · 17", 10)],
        title="Menunggu",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>Menunggu</title>" in svg
    widths = [int(w) for w in re.findall(r'<rect [^>]*width="(\d+)"', svg)]
    assert widths == [380, 95]  # the largest fills the width; the rest in proportion
    assert "40 · terlama 3 hari !" in svg  # the alarm is said in text too, not only in colour
    assert 'fill="#a40000"' in svg


def test_the_chart_escapes_what_it_is_given() -> None:
    svg = bar_chart([Bar("<script>x</script>", 1)], title="a & b")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg and "a &amp; b" in svg


def test_the_queues_are_charted_in_the_order_a_proposal_passes_the_tiers() -> None:
    queues = [
        {"tier": "province", "region": "17", "count": 2, "oldest_age_seconds": 7200, "past_age_limit": 0},
        {"tier": "district", "region": "17.71.02", "count": 1, "oldest_age_seconds": 60, "past_age_limit": 0},
        {
            "tier": "district",
            "region": "17.71.01",
            "count": 5,
            "oldest_age_seconds": 400000,
            "past_age_limit": 3,
        },
    ]
    bars = queue_bars(queues, translations("id").gettext)
    assert [b.label for b in bars] == ["Kecamatan · 17.71.01", "Kecamatan · 17.71.02", "Provinsi · 17"]
    assert bars[0].alarm and not bars[1].alarm
    assert bars[0].note == "terlama 4 hari"


@pytest.mark.parametrize(
    "key",
    [
        *(f"vstatus:{s}" for s in ("checking", "in_tier", "accepting", "returned", "withdrawn", "accepted")),
        *(f"photo:{s}" for s in PHOTO_SUBJECTS),
        "event:registry.determination_issued",
        "event:registry.determination_manifest",  # a chunked decree in the audit history (#21)
        "event:registry.welfare_decile_set",
        *(f"event:registry.institution_{s}" for s in ("registered", "changed", "closed")),
        *(f"delivery:{s}" for s in ("pending", "delivered", "dead")),
        *(f"attempt:{s}" for s in ("delivered", "failed")),  # the outcomes delivery_attempts allows
    ],
)
def test_the_verification_records_coded_labels_read_as_words_in_both_languages(key: str) -> None:
    assert translations("id").gettext(key) != key
    assert translations("en").gettext(key) != key


def test_a_field_visit_form_becomes_the_services_body_with_empty_photo_rows_left_out() -> None:
    body = visit_body(
        {
            "officer": " Budi Santoso ",
            "visit_date": "2026-11-20",
            "latitude": "-3,8004",  # a comma, as an Indonesian keyboard writes it
            "longitude": "102.2655",
            "photo-0-subject": "roof",
            "photo-0-location": "s3://visits/roof.jpg",
            "photo-0-sha256": "AB" * 32,
            "photo-1-subject": "floor",
            "photo-1-location": "",
            "photo-1-sha256": "",
        }
    )
    assert body == {
        "officer": "Budi Santoso",
        "visit_date": "2026-11-20",
        "latitude": -3.8004,
        "longitude": 102.2655,
        "photos": [{"subject": "roof", "sha256": "ab" * 32, "location": "s3://visits/roof.jpg"}],
    }
    # A number that is not one goes as typed, so the service names the field that holds it.
    assert visit_body({"latitude": "utara"})["latitude"] == "utara"


def test_a_window_form_becomes_the_proposal_services_body() -> None:
    assert window_body({"open": "on", "start": "2027-01-01", "end": "2027-03-31", "quota": "250"}) == (
        {"open": True, "period": {"start": "2027-01-01", "end": "2027-03-31"}, "quota": 250},
        {},
    )
    assert window_body({}) == ({"open": False}, {})  # closed, no period, no quota


def test_a_window_form_with_half_a_period_or_a_quota_that_is_no_number_names_the_field() -> None:
    assert window_body({"start": "2027-01-01"})[1] == {
        "end": "Give both the first and the last day, or neither."
    }
    assert window_body({"end": "2027-01-01"})[1] == {
        "start": "Give both the first and the last day, or neither."
    }
    assert window_body({"quota": "dua ratus"})[1] == {"quota": "The quota is a whole number of proposals."}


def test_a_decile_file_is_read_with_commas_or_semicolons_and_its_bad_rows_named_by_line() -> None:
    rows, bad = read_deciles(b"\xef\xbb\xbfhousehold_id,decile\nH-1,3\n\nH-2,x\n,4\nH-3,10\n")
    assert [(r["line"], r["household_id"], r["decile"]) for r in rows] == [(2, "H-1", 3), (6, "H-3", 10)]
    assert [b["line"] for b in bad] == [4, 5]
    rows, bad = read_deciles(b"Household_ID;Decile\r\nH-9;1\r\n")
    assert [(r["household_id"], r["decile"]) for r in rows] == [("H-9", 1)] and bad == []


def test_a_file_without_the_two_columns_is_refused_at_its_first_line() -> None:
    rows, bad = read_deciles(b"id,rank\nH-1,3\n")
    assert rows == [] and bad[0]["line"] == 1


def test_a_subscription_form_sends_only_public_event_types() -> None:
    body = subscription_body(
        {"callback_url": " https://bpjs.example/hook ", "secret": "s" * 20},
        ["registry.household_registered", "proposal.submitted"],
        ["PKH"],
    )
    assert body == {
        "callback_url": "https://bpjs.example/hook",
        "secret": "s" * 20,
        "event_types": ["registry.household_registered"],  # work in progress is never offered
        "programs": ["PKH"],
    }


@pytest.mark.parametrize("event_type", sorted(WEBHOOK_EVENT_TYPES))
def test_every_event_type_the_agency_page_offers_reads_as_words_in_both_languages(event_type: str) -> None:
    assert translations("id").gettext(f"event:{event_type}") != f"event:{event_type}"
    assert translations("en").gettext(f"event:{event_type}") != f"event:{event_type}"


def test_a_subscription_form_never_sends_a_decrees_chunks_or_manifest() -> None:
    """Deliveries carry a chunked decree whole (#21): its parts are not offered, nor sent if posted."""
    body = subscription_body(
        {"callback_url": "https://bpjs.example/hook", "secret": "s" * 20},
        ["registry.determination_issued", "registry.determination_chunk", "registry.determination_manifest"],
        [],
    )
    assert body["event_types"] == ["registry.determination_issued"]


def test_the_issued_decree_counts_its_lists_whole_shows_its_institutions_and_names_one_it_could_not_apply() -> (
    None
):
    from starlette.requests import Request

    from dtks_console import pages

    request = Request(
        {"type": "http", "method": "GET", "path": "/determination", "headers": [], "query_string": b""}
    )
    # As the registry answers the page (list_limit): lists cut to their first rows, list_counts whole.
    issued = {
        "decree_number": "2/HUK/2027", "registered": ["H-1"], "corrected": [], "deactivated": [],
        "counts": {"households": 120, "people": 410, "institutions": 3},
        "register_hash": "ab" * 32, "institutions_registered": ["LKS-A", "LKS-B"], "institutions_changed": ["LKS-C"],
        "not_applied": [{"proposal_id": "0123456789ab", "institution_id": "LKS-D", "reason": "target_closed"}],
        "list_counts": {"registered": 75, "corrected": 4, "deactivated": 0, "changed_leaves": 79,
                        "institutions_registered": 2, "institutions_changed": 1},
    }  # fmt: skip
    page = pages.render(
        request, "determination.html", user={"name": "D", "role": "ministry_determiner", "region": "ID"},
        csrf="c", issued=issued, freezes=[], typed={}, periods=[],
    ).body.decode()  # fmt: skip
    households = page[page.index('id="issued"') : page.index('id="institutions"')]
    # Counted whole, listed in part, and said so.
    assert [int(n) for n in re.findall(r"<dd>(\d+)</dd>", households)][:3] == [75, 4, 0]
    assert "<code>H-1</code>" in households and "Hanya baris-baris pertama yang ditampilkan." in households
    section = page[page.index('id="institutions"') :]
    assert "Lembaga Kesejahteraan Sosial (LKS)" in page
    assert [int(n) for n in re.findall(r"<dd>(\d+)</dd>", section[: section.index("</dl>")])] == [2, 1, 0, 3]
    assert "<code>LKS-A</code>" in page and "<code>LKS-B</code>" in page
    assert "01234567 · LKS-D · target_closed" in page  # not a blank where the id belongs
