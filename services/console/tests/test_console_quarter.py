"""The whole quarter clicked through in a real browser: the users of every tier, each signed in at
Keycloak's own login page, carry one household from the village's form through the district, the
regency, the regent's ratification, the province and the Ministry to the determination decree; then
a citizen, without signing in, finds it on the registration check page."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.dev_users import DevUser, ProviderAdmin, tier_users
from dtks_runtime.identity_testing import Keycloak, KeycloakAdmin
from dtks_runtime.local_system import LocalSystem

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1200)]

VILLAGE = "17.71.01.1001"
# The demo's officers of Bengkulu city (17.71), as `make run` prints them; those the realm file lacks
# are created in the test's Keycloak the way the demo creates them.
OFFICERS = {u.username: u for u in tier_users("17.71")}
OPERATOR = ("operator.1001", "dev-operator-1001")  # the realm file's operator of 17.71.01.1001
DISTRICT = OFFICERS["verifier.1771-01"]
REGENCY = OFFICERS["operator.1771"]
REGENT = OFFICERS["regent.1771"]
PROVINCE = OFFICERS["verifier.17"]
MINISTRY = OFFICERS["ministry.verifier"]
DETERMINER = OFFICERS["ministry.determiner"]
AUDITOR = OFFICERS["auditor"]


@pytest.fixture(scope="module")
def officers(keycloak: Keycloak) -> list[DevUser]:
    wanted = [REGENT, PROVINCE, DETERMINER, AUDITOR]
    assert [u.role for u in wanted] == [
        Role.REGENT,
        Role.PROVINCE_VERIFIER,
        Role.MINISTRY_DETERMINER,
        Role.AUDITOR,
    ]
    admin = ProviderAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop running in this one
        thread.submit(asyncio.run, admin.ensure_users(wanted)).result()
    return wanted


AGENCY = ("agency.dinsos-1771", "dev-agency-dinsos-1771")  # a person of the city's social agency


@pytest.fixture(scope="module")
def agency_person(keycloak: Keycloak) -> tuple[str, str]:
    """A person of a partner agency, granted PKH in the city (the realm's agencies are machines)."""

    async def create() -> None:
        admin = KeycloakAdmin(keycloak)
        user_id = await admin.add_user(*AGENCY, "agency", "17.71")
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await admin._headers(http)
            user = (await http.get(f"{admin.base}/users/{user_id}", headers=headers)).json()
            user["attributes"] = {**user.get("attributes", {}), "programs": ["PKH"]}
            (await http.put(f"{admin.base}/users/{user_id}", headers=headers, json=user)).raise_for_status()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, create()).result()
    return AGENCY


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    """The agency's own endpoint: answers 204 to every delivery and keeps its body."""
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale="id-ID", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def sign_in(browser: Browser, base: str, username: str, password: str) -> tuple[BrowserContext, Page]:
    context, page = new_page(browser)
    page.goto(f"{base}/")
    page.get_by_role("link", name="Masuk").click()
    expect(page.locator("#kc-form-login")).to_be_visible()  # Keycloak's own login page
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#kc-login")
    page.wait_for_url(
        re.compile(re.escape(base) + r"/(proposals|queue|ratification|determination|audit|agency)")
    )
    return context, page


def a_family() -> dict[str, Any]:
    """A family of its own: the integrity check returns a proposal naming a person already registered
    in the district with the same name and birth date, so each family is born on other days."""
    serial = random.randrange(1000, 9999)
    born = dt.date(1960, 1, 1) + dt.timedelta(days=random.randrange(0, 12_000))
    members = [
        {"name": "Agus Pratama", "birth_date": born.isoformat(), "sex": "male", "relation_to_head": "head"},
        {
            "name": "Yanti Lubis",
            "birth_date": (born + dt.timedelta(days=random.randrange(400, 2500))).isoformat(),
            "sex": "female",
            "relation_to_head": "spouse",
        },
    ]
    for i, m in enumerate(members):
        year, month, day = m["birth_date"].split("-")
        day_digits = int(day) + (40 if m["sex"] == "female" else 0)  # as the NIK encodes it
        m["nik"] = f"177101{day_digits:02d}{month}{year[2:]}{serial + i:04d}"
    return {"kk_number": f"17710102112{serial:04d}0", "street": "Jl. Kenanga No. 7", "members": members}


def in_civil_registry(system: LocalSystem, family: dict[str, Any]) -> None:
    people = [
        {
            **{k: m[k] for k in ("nik", "name", "birth_date", "sex", "relation_to_head")},
            "kk_number": family["kk_number"],
            "address": family["street"],
            "village_code": VILLAGE,
        }
        for m in family["members"]
    ]
    answer = httpx.post(f"{system.urls['civil-registry']}/people", json={"people": people}, timeout=30)
    assert answer.status_code in (200, 201), answer.text


def propose(page: Page, base: str, family: dict[str, Any]) -> str:
    page.goto(f"{base}/proposals/new")
    page.fill("#kk_number", family["kk_number"])
    page.fill("#address_street", family["street"])
    page.fill("#address_rt", "002")
    page.fill("#address_rw", "004")
    page.select_option("#floor_material", "cement_red_brick")
    page.select_option("#wall_material", "wood")
    page.select_option("#roof_material", "zinc")
    page.select_option("#income_band", "below_1m")
    page.select_option("#deliberation_kind", "muskel")
    page.fill("#deliberation_held_on", "2026-11-02")
    page.fill("#deliberation_minutes_ref", "BA-11/XI/2026")
    for i, m in enumerate(family["members"]):
        for f in ("nik", "name", "birth_date"):
            page.fill(f"#members-{i}-{f}", m[f])
        page.select_option(f"#members-{i}-sex", m["sex"])
        page.select_option(f"#members-{i}-relation_to_head", m["relation_to_head"])
    page.check("input[name=programs][value=PKH]")
    page.get_by_role("button", name="Kirim usulan").click()
    page.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    return page.url.split("/proposals/")[1].split("?")[0]


def until(page: Page, url: str, arrived: Callable[[], bool], within: float = 180) -> None:
    """Open ``url`` again until ``arrived``: each tier's queue is fed through the broker, not at once."""
    deadline = time.monotonic() + within
    page.goto(url)
    while not arrived():
        assert time.monotonic() < deadline, f"{url} did not show what was awaited within {within:.0f} s"
        time.sleep(1)
        page.goto(url)


def forward_from_queue(page: Page, base: str, proposal_id: str, shot: Path | None = None) -> None:
    item = page.locator(f"#item-{proposal_id}")
    # Newest first: earlier tests may leave more than a page of older proposals at the tier.
    until(page, f"{base}/queue?order=newest", lambda: item.count() == 1)
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    item.get_by_role("button", name="Teruskan").click()
    expect(page.get_by_role("status")).to_contain_text("diteruskan tercatat")


def test_the_users_of_every_tier_carry_a_household_from_the_village_to_the_decree_and_the_citizen_finds_it(
    console_system: LocalSystem,
    chromium: Browser,
    officers: list[DevUser],
    agency_person: tuple[str, str],
    webhook: tuple[str, list[bytes]],
    screenshots: Path,
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    in_civil_registry(console_system, family)
    opened: list[BrowserContext] = []

    def as_user(username: str, password: str) -> Page:
        context, page = sign_in(chromium, base, username, password)
        opened.append(context)
        return page

    try:
        # The village proposes.
        village = as_user(*OPERATOR)
        proposal_id = propose(village, base, family)
        expect(village.get_by_role("status")).to_have_text("Usulan telah tercatat.")

        # The district and the regency's social service forward it from their queues.
        forward_from_queue(as_user(DISTRICT.username, DISTRICT.password), base, proposal_id)
        forward_from_queue(
            as_user(REGENCY.username, REGENCY.password), base, proposal_id, screenshots / "queue-regency.png"
        )

        # The mayor sees on the dashboard where things wait, then ratifies the regency's batch.
        regent = as_user(REGENT.username, REGENT.password)
        waiting = regent.locator("#queues tr", has_text="Bupati/wali kota")
        until(regent, f"{base}/dashboard", lambda: waiting.count() == 1)
        expect(regent.locator("#queues svg.chart")).to_contain_text("Bupati/wali kota · 17.71")
        expect(waiting).to_contain_text("Kota Bengkulu (17.71)")
        regent.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
        row = regent.locator(f"#batch-{proposal_id}")
        until(regent, f"{base}/ratification", lambda: row.count() == 1)
        expect(row.get_by_role("checkbox")).to_be_checked()
        regent.fill("#decree_number", "400/021/KPTS/2026")
        regent.fill("#decree_date", dt.date.today().isoformat())
        regent.screenshot(path=str(screenshots / "ratification.png"), full_page=True)
        regent.get_by_role("button", name="Sahkan usulan yang dipilih").click()
        expect(regent.get_by_role("status")).to_contain_text(
            "Keputusan 400/021/KPTS/2026 mengesahkan 1 usulan"
        )

        # The province forwards it, and the Ministry's verifier accepts it.
        forward_from_queue(as_user(PROVINCE.username, PROVINCE.password), base, proposal_id)
        forward_from_queue(
            as_user(MINISTRY.username, MINISTRY.password),
            base,
            proposal_id,
            screenshots / "queue-ministry.png",
        )

        # A partner agency subscribes to the households the register takes in.
        agency = as_user(*agency_person)
        agency.get_by_label("Alamat Anda yang menerima kiriman (HTTPS)").fill(webhook[0])
        agency.get_by_label("Terdaftar", exact=True).check()
        agency.get_by_label("PKH").check()
        agency.get_by_role("button", name="Berlangganan").click()
        expect(agency.get_by_role("status")).to_contain_text("aktif")
        expect(agency.locator("#subscriptions tbody tr")).to_have_count(1)

        # The Ministry's determiner previews the quarter's decree (the acceptance it takes up, once
        # the registry has received it through the broker; until then the preview lists none and the
        # determiner looks again), then confirms it.
        determiner = as_user(DETERMINER.username, DETERMINER.password)
        period = f"{dt.date.today().year + 1}-01"
        deadline = time.monotonic() + 180
        while True:
            determiner.goto(f"{base}/determination")
            determiner.fill("#decree_number", "9/HUK/2027")
            determiner.select_option("#period", period)
            determiner.get_by_role("button", name="Pratinjau keputusan").click()
            expect(determiner.locator("#preview")).to_contain_text("9/HUK/2027")
            if determiner.locator("#pending").count() == 0:  # the acceptance has not reached the register
                assert time.monotonic() < deadline, determiner.locator("#preview").inner_text()
                time.sleep(2)
                continue
            expect(determiner.locator("#pending-count")).to_contain_text("1 penerimaan menunggu penetapan")
            expect(determiner.locator("#pending tbody tr")).to_contain_text(proposal_id[:8])
            determiner.screenshot(path=str(screenshots / "determination-preview.png"), full_page=True)
            determiner.get_by_role("button", name="Tetapkan dan terbitkan keputusan").click()
            issued = determiner.locator("#issued")
            refused = determiner.locator("#determination-problem")
            expect(issued.or_(refused)).to_be_visible()
            if issued.count() == 1:
                break
            assert time.monotonic() < deadline, refused.inner_text()
            time.sleep(2)
        expect(issued).to_contain_text("Keputusan 9/HUK/2027 telah diterbitkan.")
        expect(issued.locator("dd").first).to_have_text("1")  # registered: the household
        determiner.screenshot(path=str(screenshots / "determination-issued.png"), full_page=True)
        household_id = determiner.locator("#registered code").first.inner_text()

        # The determiner loads the statistics agency's ranking for it: one row applied, one refused.
        determiner.goto(f"{base}/deciles")
        determiner.get_by_label("Sumber: siapa yang memeringkat, putaran mana").fill("BPS 2026-Q4")
        determiner.get_by_label("Tanggal yang digambarkan peringkat").fill("2026-11-01")
        determiner.get_by_label("Berkas desil (CSV)").set_input_files(
            files=[{"name": "desil.csv", "mimeType": "text/csv",
                    "buffer": f"household_id;decile\n{household_id};2\nno-such-household;5\n".encode()}]
        )  # fmt: skip
        determiner.get_by_role("button", name="Muat berkas").click()
        expect(determiner.locator("#deciles-result")).to_contain_text(
            "1 rumah tangga berubah, 0 tidak berubah, 1 ditolak"
        )
        expect(determiner.locator("#deciles-result tbody tr")).to_contain_text("no-such-household")
        determiner.screenshot(path=str(screenshots / "deciles.png"), full_page=True)

        # The register's recap now counts the household, by program and region.
        determiner.goto(f"{base}/dashboard")
        expect(determiner.locator("#recap")).to_contain_text("menurut keputusan 9/HUK/2027")
        expect(determiner.locator("#recap table", has_text="Program bansos")).to_contain_text("PKH")

        # The village sees its proposal determined.
        until(
            village,
            f"{base}/proposals/{proposal_id}",
            lambda: "Ditetapkan" in village.locator(".facts").inner_text(),
            within=60,
        )
        village.screenshot(path=str(screenshots / "proposal-determined.png"), full_page=True)

        # The agency sees the registration delivered to its endpoint, and downloads the decree's register.
        agency.goto(f"{base}/agency")
        agency.locator("#subscriptions a").first.click()
        delivered = agency.locator("#deliveries tbody tr", has_text="Terkirim")
        until(agency, agency.url, lambda: delivered.count() == 1, within=90)
        assert any(household_id.encode() in body for body in webhook[1])
        agency.screenshot(path=str(screenshots / "agency-deliveries.png"), full_page=True)
        agency.goto(f"{base}/agency")
        agency.get_by_label("Nomor keputusan").fill("9/HUK/2027")
        with agency.expect_download() as download:
            agency.get_by_role("button", name="Unduh").click()
        exported = Path(download.value.path()).read_text()
        assert exported.startswith("household_id,kk_number,")
        assert f"{household_id},{family['kk_number']}," in exported
        assert download.value.suggested_filename == "register-9-HUK-2027.csv"

        # The auditor reads the household's history and verifies the register against its log.
        auditor = as_user(AUDITOR.username, AUDITOR.password)
        auditor.get_by_label("ID rumah tangga").fill(household_id)
        auditor.get_by_role("button", name="Tampilkan riwayatnya").click()
        history = auditor.locator("#history")
        expect(history).to_contain_text("Diajukan")
        expect(history).to_contain_text("9/HUK/2027")
        expect(history).to_contain_text("400/021/KPTS/2026")
        auditor.screenshot(path=str(screenshots / "audit-history.png"), full_page=True)
        # The replay reads the whole log before the page comes back: the click waits for it.
        auditor.get_by_role("button", name="Putar ulang dan verifikasi").click(timeout=300_000)
        expect(auditor.locator("#verification-result")).to_contain_text(
            "Register sesuai dengan log peristiwanya dan setiap keputusan.", timeout=300_000
        )

        # The Ministry's verifier sets the city's window and quota from today to the quarter's end
        # (open now: the module's other tests still propose in the city).
        ministry = as_user(MINISTRY.username, MINISTRY.password)
        ministry.goto(f"{base}/windows?regency=17.71")
        first_day, last_day = dt.date.today().isoformat(), f"{dt.date.today().year + 1}-03-31"
        ministry.get_by_label("Dibuka untuk usulan").check()
        ministry.get_by_label("Hari pertama (WIB)").fill(first_day)
        ministry.get_by_label("Hari terakhir (WIB)").fill(last_day)
        ministry.get_by_label("Kuota: usulan pertama yang boleh diajukan dalam periode").fill("250")
        ministry.get_by_role("button", name="Simpan jendela").click()
        expect(ministry.get_by_role("status")).to_have_text("Jendela 17.71 telah disimpan.")
        expect(ministry.locator("#window .facts")).to_contain_text(f"{first_day} – {last_day}")
        ministry.screenshot(path=str(screenshots / "windows.png"), full_page=True)
        expect(ministry.locator("#window .facts")).to_contain_text("250")

        # A citizen, not signed in, checks the head of the household.
        context, citizen = new_page(chromium)
        opened.append(context)
        citizen.goto(f"{base}/")
        citizen.get_by_role("link", name="Cek kepesertaan").click()
        head = family["members"][0]
        citizen.get_by_label("NIK").fill(head["nik"])
        citizen.get_by_label("Nama lengkap").fill(head["name"])
        citizen.get_by_role("button", name="Periksa").click()
        result = citizen.locator("#check-result")
        expect(result).to_contain_text("terdaftar dalam DTKS yang berlaku")
        expect(result).to_contain_text("A*** P******")  # the name masked, as the registry's API does
        expect(result).to_contain_text(head["nik"][:6] + "*" * 10)
        expect(result).to_contain_text("9/HUK/2027")
        citizen.screenshot(path=str(screenshots / "check.png"), full_page=True)
    finally:
        for context in opened:
            context.close()


def test_a_citizen_asking_too_often_is_asked_politely_to_wait(
    console_system: LocalSystem, chromium: Browser
) -> None:
    base = console_system.urls["console"]
    context, page = new_page(chromium)
    try:
        page.goto(f"{base}/check")
        for _ in range(20):  # the registry's limit: a burst of 5, then 10 a minute
            page.get_by_label("NIK").fill("1771010101800001")
            page.get_by_label("Nama lengkap").fill("Siti Aminah")
            page.get_by_role("button", name="Periksa").click()
            if page.locator("#check-wait").count():
                break
        expect(page.locator("#check-wait")).to_contain_text("Mohon tunggu")
        expect(page.get_by_label("NIK")).to_have_value("1771010101800001")  # what was typed is kept
    finally:
        context.close()


def test_a_district_verifier_records_a_field_visit_and_returns_two_proposals_at_once_with_coded_reasons(
    console_system: LocalSystem, chromium: Browser, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    opened: list[BrowserContext] = []
    try:
        context, village = sign_in(chromium, base, *OPERATOR)
        opened.append(context)
        families = [a_family(), a_family()]
        for family in families:
            in_civil_registry(console_system, family)
        ids = [propose(village, base, family) for family in families]
        context, district = sign_in(chromium, base, DISTRICT.username, DISTRICT.password)
        opened.append(context)
        items = [district.locator(f"#item-{pid}") for pid in ids]
        try:
            until(district, f"{base}/queue?order=newest", lambda: all(i.count() == 1 for i in items))
        except AssertionError:
            village.goto(f"{base}/proposals/{ids[0]}")  # where the proposal stands instead
            raise AssertionError(village.locator("main").inner_text()) from None

        # The full record, and a field visit with its coordinates and a photo reference.
        items[0].get_by_role("link", name="Berkas lengkap").click()
        expect(district.locator("#checks")).to_contain_text("lolos")
        district.get_by_label("Lintang").fill("-3,8004")
        district.get_by_label("Bujur").fill("102.2655")
        district.locator("input[name=photo-0-location]").fill("visits/atap-0001.jpg")
        district.locator("input[name=photo-0-sha256]").fill("ab" * 32)
        district.get_by_role("button", name="Catat kunjungan").click()
        expect(district.get_by_role("status")).to_have_text("Kunjungan lapangan telah tercatat.")
        expect(district.locator("#visits")).to_contain_text("-3.800400, 102.265500")
        expect(district.locator("#visits")).to_contain_text("Atap: visits/atap-0001.jpg")
        district.screenshot(path=str(screenshots / "review.png"), full_page=True)

        # Both chosen, returned with two coded reasons (chosen by their Indonesian words) and a note.
        district.goto(f"{base}/queue?order=newest")
        expect(district.get_by_text("Yang terbaru di atas.")).to_be_visible()
        for pid in ids:
            district.locator(f"#choose-{pid}").check()
        bulk = district.locator("form#bulk")
        bulk.get_by_label("Alamat tidak ditemukan").check()
        bulk.get_by_label("Foto kunjungan lapangan tidak jelas").check()
        bulk.get_by_label("Catatan", exact=True).fill("Dicek bersama RT 02")
        district.screenshot(path=str(screenshots / "queue-bulk.png"), full_page=True)
        bulk.get_by_role("button", name="Kembalikan yang dipilih").click()
        results = district.locator("#bulk-results li")
        expect(results).to_have_count(2)
        for pid in ids:
            expect(district.locator("#bulk-results")).to_contain_text(
                f"Usulan {pid[:8]}: dikembalikan tercatat."
            )

        # The village reads both reasons explained, and the note.
        returned = village.locator(".timeline li", has_text="Dikembalikan")
        until(village, f"{base}/proposals/{ids[1]}", lambda: returned.count() == 1, within=60)
        expect(returned).to_contain_text("Rumah tangga tidak ditemukan di alamat yang diberikan")
        expect(returned).to_contain_text("EVIDENCE_UNCLEAR")
        expect(returned).to_contain_text("Dicek bersama RT 02")
    finally:
        for context in opened:
            context.close()
