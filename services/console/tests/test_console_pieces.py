"""The console's pure parts: the message catalogue, the form's field names, PKCE, redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from dtks_console.app import build_app
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import translations
from dtks_console.identity_pages import local_path
from dtks_console.pkce import challenge_of
from dtks_console.queue_pages import QUEUE_OF_ROLE
from dtks_console.settings import ConsoleSettings
from dtks_contracts.events.verification import FlagCode
from dtks_contracts.vocabulary.proposals import ProposalKind
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
        # Every kind of proposal, institutions' too (#19): lists, queues and the decree page name it.
        *(f"kind:{kind.value}" for kind in ProposalKind),
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
    assert local_path(target) == "/"
    assert local_path("/proposals?status=returned") == "/proposals?status=returned"


@pytest.fixture
def console() -> Iterator[TestClient]:
    # No page here reaches the provider: the issuer only has to be named.
    app = build_app(ConsoleSettings(oidc_issuer="http://127.0.0.1:9/realms/dtks"))
    with TestClient(app) as client:
        yield client


def test_the_console_speaks_indonesian_first_and_english_when_chosen(console: TestClient) -> None:
    first = console.get("/")
    assert '<html lang="id">' in first.text and ">Masuk<" in first.text
    chosen = console.get("/language/en?next=/", follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/"
    assert ">Sign in<" in console.get("/").text
    assert (
        console.get("/language/en?next=https://evil.example/", follow_redirects=False).headers["location"]
        == "/"
    )


def test_assets_are_compressed_and_cached_for_a_year_pages_are_never_stored(console: TestClient) -> None:
    page = console.get("/")
    assert page.headers["cache-control"] == "no-store"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert len(assets) == 2  # the style sheet and htmx: nothing else, nothing from elsewhere
    for asset in assets:
        answer = console.get(asset, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-encoding"] == "gzip"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_page_that_needs_a_person_sends_them_to_sign_in_and_back(console: TestClient) -> None:
    answer = console.get("/proposals?status=returned", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/proposals%3Fstatus%3Dreturned"
    htmx = console.post("/queue/decisions", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers.get("HX-Redirect", "").startswith("/sign-in")


def _queue_items(n: int) -> list[dict[str, object]]:
    return [
        {
            "proposal_id": f"{i:08d}-0000-4000-8000-000000000000",
            "round": 1,
            "kind": "new_household",
            "village_code": "1771010001",
            "kk_number": "1771010101010001",
            "members": 4,
            "waiting_seconds": 3600.0,
            "due_date": "2026-12-08",
            "overdue": False,
        }
        for i in range(n)
    ]


def test_a_queue_page_writes_the_reasons_options_once_and_offers_them_in_every_items_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The page's cost under load was the reasons' options written again for each of its twenty
    # items (two catalogue look-ups and an explanation per reason per item); each form still offers
    # every reason, explained, with none chosen.
    from starlette.requests import Request

    from dtks_console import pages

    asked: list[str] = []
    catalogue = translations("id")

    class Counting:
        def gettext(self, message: str) -> str:
            asked.append(message)
            return catalogue.gettext(message)

    monkeypatch.setattr(pages, "translations", lambda _lang: Counting())
    request = Request({"type": "http", "method": "GET", "path": "/queue", "headers": [], "query_string": b""})
    reasons = sorted(REVIEW_CODES)
    page = pages.render(
        request,
        "queue.html",
        user={"name": "Verifier", "role": "district_verifier", "region": "1771"},
        csrf="c",
        tier="district",
        items=_queue_items(20),
        next_after=None,
        problem=None,
        reasons=reasons,
        new_key=lambda: "key",
        describe=describe,
        done=None,
        freezes=[],
    ).body.decode()

    for code in reasons:
        # Once for the twenty forms, once for the bulk form's checkboxes.
        assert asked.count(f"reason:{code}") == 2, code
        option = (
            f'<option value="{code}" title="{catalogue.gettext(describe(code))}">'
            f"{catalogue.gettext(f'reason:{code}')}</option>"
        )
        assert page.count(option) == 20, code
    assert page.count('<select name="reason">') == 20
    assert " selected" not in page


def test_a_queue_names_an_institutions_proposals_kind_in_words_and_no_family_card(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An institution's assistance waits at the regency like any proposal (#19): the queue showed its
    # raw code and "KK None · 0 members", an institution having no family card.
    from starlette.requests import Request

    from dtks_console import pages

    request = Request({"type": "http", "method": "GET", "path": "/queue", "headers": [], "query_string": b""})
    items = _queue_items(2)
    items[1] |= {"kind": "institution_assistance", "kk_number": None, "members": 0}
    page = pages.render(
        request,
        "queue.html",
        user={"name": "Dinsos", "role": "regency_operator", "region": "17.71"},
        csrf="c",
        tier="regency",
        items=items,
        next_after=None,
        problem=None,
        reasons=sorted(REVIEW_CODES),
        new_key=lambda: "key",
        describe=describe,
        done=None,
        freezes=[],
    ).body.decode()
    household, institution = page.split('id="item-')[1:3]
    assert "Rumah tangga baru" in household and "KK 1771010101010001" in household
    assert "Bantuan untuk LKS" in institution and "institution_assistance ·" not in institution
    assert "KK" not in institution.split("<form")[0] and "None" not in institution


def _review_page(record: dict[str, object], role: str = "district_verifier", region: str = "17.71.01") -> str:
    """The proposal's page (review.html) for `record`, as the verification service gives it."""
    from starlette.requests import Request

    from dtks_console import pages

    request = Request(
        {"type": "http", "method": "GET", "path": "/review/p-1", "headers": [], "query_string": b""}
    )
    return pages.render(
        request,
        "review.html",
        user={"name": "Verifier", "role": role, "region": region},
        csrf="c",
        proposal_id="p-1",
        record=record,
        problem=None,
        proposal=None,
        describe=describe,
        typed={},
        refused=None,
        photo_rows=range(0),
        subjects=(),
        visit_recorded=False,
        may_visit=False,
    ).body.decode()


@pytest.mark.parametrize("code", get_args(FlagCode))
def test_an_integrity_checks_flags_read_as_words_for_the_verifier(code: str) -> None:
    # Flags (#19) are for the verifier to judge, never a refusal: the proposal page says what to check.
    assert translations("id").gettext(f"flag:{code}") != f"flag:{code}"
    assert translations("en").gettext(f"flag:{code}") != f"flag:{code}"
    check = {"occurred_at": "2026-12-04T08:00:00+00:00", "stage": "entry", "passed": True, "findings": [],
             "flags": [{"code": code, "message": "household H-1", "field_path": "institution.residents[1].nik"}]}  # fmt: skip
    page = _review_page({"checks": [check]}, role="regency_operator", region="17.71")
    flags = page.split('class="reasons flags"')[1].split("</ul>")[0]
    assert translations("id").gettext(f"flag:{code}") in flags and "institution.residents[1].nik" in flags


def test_a_proposal_made_by_a_rounds_visit_does_not_say_no_field_visit_under_that_visit() -> None:
    # #23: the round's visit is the proposal's field visit; the list of other visits under it said
    # "Belum ada kunjungan lapangan." as if there were none.
    visit = {"round_id": "r" * 36, "outcome": "changed", "officer": "Siti", "visit_date": "2026-12-01",
             "latitude": -3.8, "longitude": 102.26, "photos": [], "findings": []}  # fmt: skip

    def page(round_visit: dict | None) -> str:
        return _review_page({"checks": [], "visits": [], "round_visit": round_visit})

    with_round = page(visit)
    assert 'id="round-visit"' in with_round
    assert "Belum ada kunjungan lapangan." not in with_round
    assert "Tidak ada kunjungan lapangan lain." in with_round
    assert "Belum ada kunjungan lapangan." in page(None)


def test_a_proposals_history_says_when_its_stay_became_overdue_and_whether_it_was_escalated() -> None:
    # #18: the verification service's standing lists the scan's marks among the decisions.
    marks = [
        {"event_type": "verification.items_overdue", "occurred_at": "2026-12-30T01:00:00+00:00",
         "tier": "district", "level": level, "due_date": due, "notify_tier": notify, "notify_region": region}
        for level, due, notify, region in ((1, "2026-12-29", "district", "17.71.01"),
                                           (2, "2026-12-31", "regency", "17.71"))
    ]  # fmt: skip
    page = _review_page({"checks": [], "decisions": marks})
    history = page.split('id="history"')[1].split("</ol>")[0]
    assert history.count("Lewat tenggat") == 2
    assert "melewati tenggat: petugas jenjang ini diberi tahu" in history
    assert "melewati tenggat kedua: dieskalasi ke jenjang di atasnya" in history
    assert "tenggat 29 Desember 2026" in history and "tenggat 31 Desember 2026" in history


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("id", "NIK 12345 terdiri dari 5 karakter; harus tepat 16 angka."),
        ("en", "NIK 12345 has 5 characters; it must have exactly 16 digits."),
    ],
)
def test_a_refused_nik_is_said_in_the_operators_language_beside_its_field(language: str, said: str) -> None:
    # The service's sentence is English; its code and parameters let the console say it in Indonesian.
    from starlette.requests import Request

    from dtks_console import pages

    form = HouseholdForm.blank("key")
    form.members[0]["nik"] = "12345"
    refusal = {
        "field": "household.members[0].nik",
        "message": "NIK 12345 : must be exactly 16 digits, got 5 characters",
        "type": "identifier_length",
        "params": {"label": "NIK", "value": "12345", "length": 16, "got": 5},
    }
    unknown = {"field": "household.kk_number", "message": "Value error, something new", "type": "value_error"}
    form.refused({"detail": "The request has invalid fields.", "errors": [refusal, unknown]})
    assert form.errors["members-0-nik"] == [refusal["message"]]  # what str gives: the service's sentence
    cookie = f"dtks_lang={language}".encode()
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/proposals/new",
            "query_string": b"",
            "headers": [(b"cookie", cookie)],
        }
    )
    page = pages.render(
        request, "proposal_form.html", user={"name": "Operator", "role": "village_operator", "region": "17.71.01.1001"},
        csrf="c", form=form, programs=["PKH"], choices=CHOICES, freezes=[],
    ).body.decode()  # fmt: skip
    assert f'<span class="field-error" id="members-0-nik-error">{said}</span>' in page
    # A refusal the catalogue has no words for is shown as the service said it.
    assert '<span class="field-error" id="kk_number-error">something new</span>' in page


@pytest.mark.parametrize("language", ["id", "en"])
def test_every_coded_refusal_of_the_identifiers_has_words_in_the_catalogue(language: str) -> None:
    import inspect
    import re

    from dtks_contracts import identifiers

    codes = set(re.findall(r'_refused\(\s*"([a-z_]+)"', inspect.getsource(identifiers)))
    assert len(codes) >= 8
    catalogue = translations(language)
    assert {c for c in codes if catalogue.gettext(f"error:{c}") == f"error:{c}"} == set()
