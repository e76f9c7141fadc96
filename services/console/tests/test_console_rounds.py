"""Re-verification rounds in a real browser, against the real services and Keycloak: the Ministry opens
a round over a district with a sample (a refused period shown beside its field, the form kept), the
round's page shows its progress per district and village; the district's field officer, on a phone,
finds the round by its number, works the village's prelist as a queue, downloads it, and records a
household's visit with a photo (a changed household without its change refused beside the changes);
the round's figures change, and the Ministry closes the round and reads its recap."""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from openpyxl import load_workbook
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.local_system import LocalSystem

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1200)]

VILLAGE = "17.71.01.1001"
DISTRICT, REGENCY, PROVINCE = "17.71.01", "17.71", "17"
MINISTRY = ("ministry.verifier", "dev-ministry-verifier")  # Ministry verifier (ID) in the realm
OFFICER = ("verifier.1771-01", "dev-verifier-177101")  # district verifier of 17.71.01: records visits
TODAY = dt.date.today()
PHONE = {"width": 390, "height": 844}  # a field officer's phone


# ------------------------------------------------------------------ people, households, the services


def new_context(browser: Browser, viewport: dict[str, int] | None = None) -> BrowserContext:
    context = browser.new_context(locale="id-ID", viewport=viewport or {"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    return context


def sign_in(page: Page, base: str, user: tuple[str, str]) -> None:
    page.goto(f"{base}/")
    page.get_by_role("link", name="Masuk").click()
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#kc-login")
    page.wait_for_url(re.compile(re.escape(base) + r"/queue"))


def nik(birth: str, sex: str, serial: int) -> str:
    year, month, day = birth.split("-")
    return f"177101{int(day) + (40 if sex == 'female' else 0):02d}{month}{year[2:]}{serial:04d}"


def a_family() -> dict[str, Any]:
    serial = random.randrange(1000, 9998)
    members = [
        {"name": "Siti Aminah", "birth_date": "1975-03-14", "sex": "female", "relation_to_head": "head"},
        {"name": "Agus Salim", "birth_date": "2001-07-21", "sex": "male", "relation_to_head": "child"},
    ]
    for i, m in enumerate(members):
        m["nik"] = nik(m["birth_date"], m["sex"], serial + i)
    return {"kk_number": f"17710102113{serial:04d}0", "street": "Jl. Bukit Barisan 4", "members": members}


def proposal_body(family: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "new_household",
        "village_code": VILLAGE,
        "deliberation": {"kind": "muskel", "held_on": "2026-11-02", "minutes_ref": "BA-09/XI/2026"},
        "household": {
            "kk_number": family["kk_number"],
            "address": {"street": family["street"], "rt": "002", "rw": "004"},
            "members": family["members"],
            "housing": {"floor_material": "earth", "wall_material": "bamboo", "roof_material": "thatch"},
            "income_band": "below_1m",
        },
        "programs": ["PKH"],
    }


def until(check: Callable[[], bool], what: str, within: float = 180) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


class Api:
    """The services' public APIs with development tokens, for what the test sets up."""

    def __init__(self, system: LocalSystem) -> None:
        self.system = system

    def call(
        self, method: str, service: str, path: str, role: Role, region: str, **kw: Any
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.system.urls[service]}{path}",
            headers=self.system.headers(role, region),
            timeout=60,
            **kw,
        )

    def decide(self, tier: str, role: Role, region: str, proposal_id: str) -> None:
        def there() -> bool:
            items = self.call("GET", "verification", f"/queues/{tier}", role, region, params={"limit": 1000})
            return any(i["proposal_id"] == proposal_id for i in items.json().get("items", []))

        until(there, f"{proposal_id} in the {tier} queue")
        body = {"proposal_id": proposal_id, "tier": tier, "decision": "forward"}
        answer = self.call("POST", "verification", "/decisions", role, region, json=body)
        assert answer.status_code in (200, 201), answer.text

    def register(self, families: list[dict[str, Any]]) -> None:
        """The households through every tier and a decree, as in a quarter."""
        ids = []
        for family in families:
            people = [
                {**{k: m[k] for k in ("nik", "name", "birth_date", "sex", "relation_to_head")},
                 "kk_number": family["kk_number"], "address": family["street"], "village_code": VILLAGE}
                for m in family["members"]
            ]  # fmt: skip
            answer = httpx.post(
                f"{self.system.urls['civil-registry']}/people", json={"people": people}, timeout=30
            )
            assert answer.status_code in (200, 201), answer.text
            sent = self.call(
                "POST", "proposal", "/proposals", Role.VILLAGE_OPERATOR, VILLAGE, json=proposal_body(family)
            )
            assert sent.status_code == 201, sent.text
            ids.append(sent.json()["proposal_id"])
        for pid in ids:
            self.decide("district", Role.DISTRICT_VERIFIER, DISTRICT, pid)
            self.decide("regency", Role.REGENCY_OPERATOR, REGENCY, pid)
        for pid in ids:
            until(
                lambda pid=pid: any(
                    i["proposal_id"] == pid
                    for i in self.call("GET", "verification", "/queues/regent", Role.REGENT, REGENCY,
                                       params={"limit": 1000}).json().get("items", [])
                ),
                f"{pid} waiting for ratification",
            )  # fmt: skip
        ratification = {"regency_code": REGENCY, "decree_number": "400/515/KPTS/2026",
                        "decree_date": TODAY.isoformat(), "proposal_ids": ids}  # fmt: skip
        answer = self.call("POST", "verification", "/ratifications", Role.REGENT, REGENCY, json=ratification)
        assert answer.status_code in (200, 201), answer.text
        for pid in ids:
            self.decide("province", Role.PROVINCE_VERIFIER, PROVINCE, pid)
            self.decide("ministry", Role.MINISTRY_VERIFIER, "ID", pid)
        for pid in ids:
            until(
                lambda pid=pid: self.call("GET", "registry", f"/candidates/{pid}", Role.MINISTRY_DETERMINER, "ID").status_code
                == 200,
                f"{pid} a candidate of the registry",
            )  # fmt: skip
        body = {
            "decree_number": "88/HUK/2026",
            "period": "2026-10",
            "cutoff": dt.datetime.now(dt.UTC).isoformat(),
        }
        answer = self.call("POST", "registry", "/determinations", Role.MINISTRY_DETERMINER, "ID", json=body)
        assert answer.status_code in (200, 201), answer.text

    def known_to_verification(self, wanted: int) -> None:
        """Verification learns the register from the registry's events: a probe round, years ahead and
        closed at once, counts the village's households it knows (it overlaps no round of the test)."""

        def known() -> bool:
            body = {"region": VILLAGE, "period_start": "2031-01-01", "period_end": "2031-01-02",
                    "selection": {"mode": "all"}}  # fmt: skip
            probe = self.call(
                "POST", "verification", "/reverification-rounds", Role.REGENCY_OPERATOR, REGENCY, json=body
            )
            assert probe.status_code == 201, probe.text
            closed = self.call("POST", "verification", f"/reverification-rounds/{probe.json()['round_id']}/closing",
                               Role.REGENCY_OPERATOR, REGENCY)  # fmt: skip
            assert closed.status_code == 200, closed.text
            return int(probe.json()["households"]) >= wanted

        until(known, "the register's households in verification", within=120)


def png_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 120, 60)).save(out, format="PNG")
    return out.getvalue()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def registered(console_system: LocalSystem) -> list[dict[str, Any]]:
    families = [a_family(), a_family(), a_family()]
    api = Api(console_system)
    api.register(families)
    api.known_to_verification(len(families))
    return families


@pytest.fixture(scope="module")
def ministry(console_system: LocalSystem, chromium: Browser) -> Iterator[Page]:
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, console_system.urls["console"], MINISTRY)
    yield page
    context.close()


@pytest.fixture(scope="module")
def officer(console_system: LocalSystem, chromium: Browser) -> Iterator[Page]:
    context = new_context(chromium, PHONE)
    page = context.new_page()
    sign_in(page, console_system.urls["console"], OFFICER)
    yield page
    context.close()


@pytest.fixture(scope="module")
def opened(
    ministry: Page, registered: list[dict[str, Any]], console_system: LocalSystem, screenshots: Path
) -> str:
    """The Ministry opens a round over the district with a sample of two: first with the period
    typed backwards (refused beside the last day, the form kept as typed), then put right."""
    ministry.get_by_role("link", name="Putaran verifikasi ulang").click()
    ministry.fill("#round-region", DISTRICT)
    ministry.fill("#round-start", (TODAY + dt.timedelta(days=30)).isoformat())
    ministry.fill("#round-end", TODAY.isoformat())
    ministry.check("input[name=mode][value=sample]")
    ministry.fill("#round-sample", "2")
    ministry.fill("#round-seed", "11")
    ministry.get_by_role("button", name="Buka putaran dan terbitkan daftar kunjungannya").click()
    expect(ministry.locator("#period_end-error")).to_have_text(
        "Hari terakhir sebelum hari pertama; tukar kedua tanggal."
    )
    expect(ministry.locator("#round-end")).to_have_attribute("aria-invalid", "true")
    expect(ministry.locator("#round-region")).to_have_value(DISTRICT)
    expect(ministry.locator("#round-sample")).to_have_value("2")
    ministry.screenshot(path=str(screenshots / "round-open-refused.png"), full_page=True)
    ministry.fill("#round-start", TODAY.isoformat())
    ministry.fill("#round-end", (TODAY + dt.timedelta(days=30)).isoformat())
    ministry.get_by_role("button", name="Buka putaran dan terbitkan daftar kunjungannya").click()
    ministry.wait_for_url(re.compile(r"/rounds/[0-9a-f-]{36}\?opened=1"))
    return ministry.url.split("/rounds/")[1].split("?")[0]


# ------------------------------------------------------------------ the tests


def test_the_ministry_opens_a_round_over_a_district_with_a_sample_and_sees_its_progress(
    ministry: Page, opened: str, console_system: LocalSystem, screenshots: Path
) -> None:
    expect(ministry.locator("#round-opened")).to_have_text(
        "Putaran dibuka dan daftar kunjungannya terbit: 2 rumah tangga."
    )
    expect(ministry.locator("#round-status")).to_have_text("Berjalan")
    district = ministry.locator(f"[id='district-{DISTRICT}']")
    expect(district.locator(".visited")).to_have_text("0")
    expect(district.locator(".outstanding")).to_have_text("2")
    expect(ministry.locator("#total-households")).to_have_text("2")
    # A district's own page lists its villages, each with its households to visit.
    ministry.get_by_role("link", name=DISTRICT, exact=True).click()
    expect(ministry.locator("#progress-village")).to_contain_text(VILLAGE)
    expect(ministry.locator("h1")).to_contain_text("Selebar")  # the district's name, not only its code
    ministry.screenshot(path=str(screenshots / "round-progress.png"), full_page=True)
    # The dashboard leads to the rounds too.
    ministry.goto(f"{console_system.urls['console']}/dashboard")
    ministry.locator("#rounds-link a").click()
    expect(ministry.locator("h1")).to_have_text("Putaran verifikasi ulang")


def test_a_round_overlapping_the_open_one_is_refused_beside_the_region_with_a_link_to_it(
    ministry: Page, opened: str, console_system: LocalSystem, screenshots: Path
) -> None:
    ministry.goto(f"{console_system.urls['console']}/rounds")
    ministry.fill("#round-region", DISTRICT)
    ministry.fill("#round-start", (TODAY + dt.timedelta(days=2)).isoformat())
    ministry.fill("#round-end", (TODAY + dt.timedelta(days=10)).isoformat())
    ministry.check("input[name=mode][value=all]")
    ministry.get_by_role("button", name="Buka putaran dan terbitkan daftar kunjungannya").click()
    expect(ministry.locator("#region-error")).to_contain_text(
        f"Putaran {opened[:8]} untuk wilayah {DISTRICT}"
    )
    expect(ministry.locator("#round-region")).to_have_attribute("aria-invalid", "true")
    expect(ministry.locator("#open-round-link")).to_have_attribute("href", f"/rounds/{opened}")
    ministry.screenshot(path=str(screenshots / "round-open-overlapping.png"), full_page=True)


def test_a_field_officer_on_a_phone_records_a_visit_and_the_rounds_figures_change(
    officer: Page, ministry: Page, opened: str, console_system: LocalSystem, screenshots: Path, tmp_path: Path
) -> None:
    base = console_system.urls["console"]
    # The officer sees the round among the district's rounds, newest first (the probe rounds,
    # closed, below it), and can also find it by the number the Ministry gave.
    officer.get_by_role("link", name="Putaran verifikasi ulang").click()
    listed = officer.locator("#rounds tbody tr").first
    expect(listed.locator(f"a[href='/rounds/{opened}']")).to_have_text(DISTRICT)
    expect(listed).to_contain_text("Berjalan")
    officer.fill("#find-round", opened)
    officer.get_by_role("button", name="Buka halaman putaran").click()
    officer.wait_for_url(f"{base}/rounds/{opened}")
    officer.get_by_role("link", name=VILLAGE, exact=True).click()
    expect(officer.locator("#prelist .item")).to_have_count(2)
    officer.screenshot(path=str(screenshots / "round-village-queue-phone.png"), full_page=True)

    # The prelist the officer carries on paper.
    with officer.expect_download() as download:
        officer.get_by_role("link", name="Unduh sebagai CSV").click()
    saved = tmp_path / "prelist.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("household_id,village_code,kk_number") and len(lines) == 3, lines

    first = officer.locator("#prelist .item").first
    first.get_by_role("link", name=re.compile("Catat kunjungan")).click()
    # Changed, but what changed not filled in: refused beside the changes, the rest kept.
    officer.get_by_label("Ditemukan, berubah").check()
    officer.fill("#latitude", "-3,8004")
    officer.fill("#longitude", "102.2655")
    officer.fill("#note", "Pindah rumah di desa yang sama")
    officer.set_input_files("#photo", {"name": "rumah.png", "mimeType": "image/png", "buffer": png_photo()})
    officer.get_by_role("button", name="Catat kunjungan").click()
    expect(officer.locator("#changes-error")).to_contain_text("perlu isian apa yang berubah")
    expect(officer.get_by_label("Ditemukan, berubah")).to_be_checked()
    expect(officer.locator("#note")).to_have_value("Pindah rumah di desa yang sama")
    officer.screenshot(path=str(screenshots / "round-visit-refused-phone.png"), full_page=True)

    # The photo went up with the first try: the form names it again, it need not be chosen again.
    expect(officer.locator("#photo-kept")).to_have_text(
        "Foto sudah terunggah; pilih foto lain hanya untuk menggantinya."
    )
    officer.fill("#change_address_street", "Jl. Bukit Barisan 17")
    officer.get_by_role("button", name="Catat kunjungan").click()
    expect(officer.locator("#visit-recorded")).to_contain_text("Kunjungan telah tercatat.")
    expect(officer.locator("#visit-recorded")).to_contain_text("menjadi usulan")
    expect(officer.locator("#prelist .outcome-changed")).to_have_count(1)
    officer.screenshot(path=str(screenshots / "round-visit-recorded-phone.png"), full_page=True)

    # The visit became a proposal: its record shows the round visit's facts and its photo, which the
    # console fetches from verification with the officer's own token, and which loads in the browser.
    proposal_id = parse_qs(urlparse(officer.url).query)["proposal"][0]

    def record_shown() -> bool:
        officer.goto(f"{base}/review/{proposal_id}")
        return officer.locator("#round-visit").count() == 1

    until(record_shown, "the round's proposal in verification", within=120)
    expect(officer.locator("#round-visit-outcome")).to_have_text("Ditemukan, berubah")
    thumbnail = officer.locator("#round-visit img").first
    expect(thumbnail).to_have_attribute("alt", re.compile(r"^Foto .+, kunjungan \d{4}-\d{2}-\d{2}$"))
    officer.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("i => i.naturalWidth") == 64
    src = thumbnail.get_attribute("src") or ""
    assert re.fullmatch(r"/photos/[0-9a-f]{64}", src), src
    officer.screenshot(path=str(screenshots / "round-visit-proposal-photo-phone.png"), full_page=True)
    # The console answers the bytes with the service's type and a private, immutable cache; the
    # browser's own copy is answered 304; a hash of no photo is 404.
    fetched = officer.request.get(f"{base}{src}")
    assert fetched.status == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.headers["cache-control"].startswith("private") and fetched.body() == png_photo()
    again = officer.request.get(f"{base}{src}", headers={"If-None-Match": fetched.headers["etag"]})
    assert again.status == 304
    assert officer.request.get(f"{base}/photos/{'0' * 64}").status == 404
    assert officer.request.get(f"{base}/photos/not-a-hash").status == 404

    # The Ministry's page of the round now counts the visit.
    ministry.goto(f"{base}/rounds/{opened}")
    expect(ministry.locator("#total-visited")).to_have_text("1")
    expect(ministry.locator("#total-outstanding")).to_have_text("1")
    expect(ministry.locator("#total-changed")).to_have_text("1")
    expect(ministry.locator("#total-proposals")).to_have_text("1")
    district = ministry.locator(f"[id='district-{DISTRICT}']")
    expect(district.locator(".visited")).to_have_text("1")


def test_the_officer_downloads_the_workbook_and_uploads_it_filled_in_with_a_bad_row_reported(
    officer: Page, opened: str, console_system: LocalSystem, screenshots: Path, tmp_path: Path
) -> None:
    base = console_system.urls["console"]
    officer.goto(f"{base}/rounds/{opened}/villages/{VILLAGE}")
    with officer.expect_download() as download:
        officer.get_by_role("link", name="Unduh sebagai berkas Excel").click()
    saved = tmp_path / "prelist.xlsx"
    download.value.save_as(saved)
    book = load_workbook(saved)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    outcome = header.index("outcome") + 1
    rows = list(range(2, sheet.max_row + 1))
    assert len(rows) == 2
    for row in rows:
        if sheet.cell(row, outcome).value:
            sheet.cell(row, outcome).value = None  # visited already: left out of the upload
        else:
            sheet.cell(row, outcome).value = "hilang"  # no outcome of the list
            bad_row = row
    filled = tmp_path / "hasil.xlsx"
    book.save(filled)
    officer.goto(f"{base}/rounds/{opened}")
    officer.set_input_files("#results-file", str(filled))
    officer.get_by_role("button", name="Unggah dan catat kunjungannya").click()
    expect(officer.locator("#rows-rejected")).to_have_text("1")
    expect(officer.locator("#rows-recorded")).to_have_text("0")
    expect(officer.locator(f"[id='row-{bad_row}-outcome'] .reason")).to_have_text(
        "Isi kolom outcome tidak sah; periksa dan perbaiki."
    )
    officer.screenshot(path=str(screenshots / "round-results-report-phone.png"), full_page=True)


def test_the_ministry_closes_the_round_and_reads_its_recap(
    ministry: Page, officer: Page, opened: str, console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    ministry.goto(f"{base}/rounds/{opened}")
    ministry.get_by_role("button", name="Tutup putaran dan tampilkan rekapitulasinya").click()
    ministry.wait_for_url(f"{base}/rounds/{opened}?closed=1")
    expect(ministry.locator("#round-status")).to_have_text("Ditutup")
    expect(ministry.locator("#round-recap")).to_contain_text("Tidak dikunjungi")
    expect(ministry.locator("#recap-outstanding")).to_have_text("1")
    ministry.screenshot(path=str(screenshots / "round-closed-recap.png"), full_page=True)
    # The officer's queue no longer offers a visit.
    officer.goto(f"{base}/rounds/{opened}/villages/{VILLAGE}")
    expect(officer.get_by_role("link", name=re.compile("Catat kunjungan"))).to_have_count(0)
