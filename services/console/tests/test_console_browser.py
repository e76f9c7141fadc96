"""A village operator and a district verifier do their work in a real browser: sign-in at Keycloak's
own login page, the new-household form, the village's proposals with their timeline, and the
district's queue, against the real services."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dtks_runtime.local_system import LocalSystem

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

OPERATOR = ("operator.1001", "dev-operator-1001")  # village operator of 17.71.01.1001 in the realm
VERIFIER = ("verifier.1771-01", "dev-verifier-177101")  # district verifier of 17.71.01
VILLAGE = "17.71.01.1001"


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="id-ID", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    return context


def nik(birth: str, sex: str, serial: int) -> str:
    """A NIK whose digits 7-12 encode the birth date as the civil registry does (women: day + 40)."""
    year, month, day = birth.split("-")
    day_digits = int(day) + (40 if sex == "female" else 0)
    return f"177101{day_digits:02d}{month}{year[2:]}{serial:04d}"


def a_family() -> dict[str, Any]:
    serial = random.randrange(1000, 9999)
    members = [
        {"name": "Budi Santoso", "birth_date": "1978-04-12", "sex": "male", "relation_to_head": "head"},
        {"name": "Sri Wahyuni", "birth_date": "1982-09-05", "sex": "female", "relation_to_head": "spouse"},
    ]
    for i, m in enumerate(members):
        m["nik"] = nik(m["birth_date"], m["sex"], serial + i)
    return {"kk_number": f"17710102112{serial:04d}0", "street": "Jl. Merapi No. 12", "members": members}


def register_with_civil_registry(system: LocalSystem, family: dict[str, Any]) -> None:
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


def sign_in(page: Page, base: str, user: tuple[str, str]) -> None:
    page.goto(f"{base}/")
    page.get_by_role("link", name="Masuk").click()
    # Keycloak's own login page, not the console's.
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#kc-login")
    page.wait_for_url(re.compile(re.escape(base) + r"/(proposals|queue)"))


@pytest.fixture(scope="module")
def operator(console_system: LocalSystem, chromium: Browser) -> Iterator[Page]:
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, console_system.urls["console"], OPERATOR)
    yield page
    context.close()


@pytest.fixture(scope="module")
def verifier(console_system: LocalSystem, chromium: Browser) -> Iterator[Page]:
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, console_system.urls["console"], VERIFIER)
    yield page
    context.close()


@pytest.fixture(scope="module")
def submitted(operator: Page, console_system: LocalSystem, screenshots: Path) -> dict[str, Any]:
    """A household the operator proposed through the form; its proposal id."""
    family = a_family()
    register_with_civil_registry(console_system, family)
    fill_form(operator, console_system.urls["console"], family)
    operator.screenshot(path=str(screenshots / "proposal-form.png"), full_page=True)
    operator.get_by_role("button", name="Kirim usulan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal_id = operator.url.split("/proposals/")[1].split("?")[0]
    return {"family": family, "proposal_id": proposal_id}


def fill_form(page: Page, base: str, family: dict[str, Any]) -> None:
    page.goto(f"{base}/proposals/new")
    page.fill("#kk_number", family["kk_number"])
    page.fill("#address_street", family["street"])
    page.fill("#address_rt", "003")
    page.fill("#address_rw", "001")
    page.select_option("#floor_material", "cement_red_brick")
    page.select_option("#wall_material", "wood")
    page.select_option("#roof_material", "zinc")
    page.select_option("#income_band", "below_1m")
    page.select_option("#deliberation_kind", "muskel")
    page.fill("#deliberation_held_on", "2026-11-02")
    page.fill("#deliberation_minutes_ref", "BA-07/XI/2026")
    for i, m in enumerate(family["members"]):
        for f in ("nik", "name", "birth_date"):
            page.fill(f"#members-{i}-{f}", m[f])
        page.select_option(f"#members-{i}-sex", m["sex"])
        page.select_option(f"#members-{i}-relation_to_head", m["relation_to_head"])
    page.check("input[name=programs][value=PKH]")


def test_a_village_operator_submits_a_household_and_sees_it_with_its_timeline(
    operator: Page, submitted: dict[str, Any], console_system: LocalSystem, screenshots: Path
) -> None:
    expect(operator.get_by_role("status")).to_have_text("Usulan telah tercatat.")
    expect(operator.locator(".timeline")).to_contain_text("Diajukan")
    expect(operator.locator(".facts")).to_contain_text(submitted["family"]["kk_number"])
    operator.screenshot(path=str(screenshots / "proposal.png"), full_page=True)
    operator.goto(f"{console_system.urls['console']}/proposals")
    row = operator.locator("tr", has=operator.locator(f"a[href='/proposals/{submitted['proposal_id']}']"))
    expect(row).to_have_count(1)
    operator.screenshot(path=str(screenshots / "proposals.png"), full_page=True)


def test_a_refused_form_keeps_what_was_typed_and_names_the_field(
    operator: Page, console_system: LocalSystem, screenshots: Path
) -> None:
    family = a_family()
    family["members"][1]["nik"] = "12345"  # not 16 digits: the proposal service refuses it
    fill_form(operator, console_system.urls["console"], family)
    key = operator.locator("input[name=idempotency_key]").input_value()
    operator.get_by_role("button", name="Kirim usulan").click()
    # The summary is in the operator's language and points at the fields, not at body paths.
    expect(operator.locator("#form-problem")).to_contain_text("perlu diperbaiki")
    expect(operator.locator("#form-problem")).not_to_contain_text("household.members")
    expect(operator.locator("#members-1-nik-error")).not_to_contain_text("Value error")
    # The service's refusal of the NIK, by its code and parameters, in the operator's language.
    expect(operator.locator("#members-1-nik-error")).to_have_text(
        "NIK 12345 terdiri dari 5 karakter; harus tepat 16 angka."
    )
    # The service's message stands next to the field it names; what was typed is still there.
    expect(operator.locator("#members-1-nik-error")).to_be_visible()
    expect(operator.locator("#members-1-nik")).to_have_attribute("aria-invalid", "true")
    expect(operator.locator("#members-1-nik")).to_have_value("12345")
    expect(operator.locator("#members-0-name")).to_have_value("Budi Santoso")
    expect(operator.locator("#kk_number")).to_have_value(family["kk_number"])
    expect(operator.locator("#floor_material")).to_have_value("cement_red_brick")
    expect(operator.locator("input[name=programs][value=PKH]")).to_be_checked()
    # The same form keeps its idempotency key, so its corrected sending is still one submission.
    assert operator.locator("input[name=idempotency_key]").input_value() == key
    operator.screenshot(path=str(screenshots / "proposal-form-refused.png"), full_page=True)


def test_the_district_verifier_forwards_the_proposal_from_the_queue_and_the_village_sees_it(
    verifier: Page, operator: Page, submitted: dict[str, Any], console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    item = _wait_in_queue(verifier, base, submitted["proposal_id"])
    expect(item).to_contain_text("menunggu")
    verifier.screenshot(path=str(screenshots / "queue.png"), full_page=True)
    item.get_by_role("button", name="Teruskan").click()
    expect(verifier.get_by_role("status")).to_contain_text("diteruskan tercatat")
    verifier.reload()
    expect(verifier.locator(f"#item-{submitted['proposal_id']}")).to_have_count(0)
    operator.goto(f"{base}/proposals/{submitted['proposal_id']}")
    deadline = time.monotonic() + 60
    while "Diteruskan" not in operator.locator(".timeline").inner_text() and time.monotonic() < deadline:
        time.sleep(1)
        operator.reload()
    expect(operator.locator(".timeline")).to_contain_text("Diteruskan")
    expect(operator.locator(".facts")).to_contain_text("Kabupaten/kota")


def _wait_in_queue(verifier: Page, base: str, proposal_id: str) -> Any:
    item = verifier.locator(f"#item-{proposal_id}")
    deadline = time.monotonic() + 120  # the integrity check at entry runs first, asynchronously
    while item.count() == 0 and time.monotonic() < deadline:
        time.sleep(1)
        verifier.goto(f"{base}/queue")
    return item


def test_a_return_with_a_coded_reason_reaches_the_village_explained_in_indonesian(
    operator: Page, verifier: Page, console_system: LocalSystem
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    register_with_civil_registry(console_system, family)
    fill_form(operator, base, family)
    operator.get_by_role("button", name="Kirim usulan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal_id = operator.url.split("/proposals/")[1].split("?")[0]
    item = _wait_in_queue(verifier, base, proposal_id)
    item.get_by_role("button", name="Kembalikan").click()  # no reason chosen: the service refuses
    expect(verifier.get_by_role("status")).to_contain_text("belum diputuskan")
    item = _wait_in_queue(verifier, base, proposal_id)
    item.locator("select[name=reason]").select_option("ADDRESS_NOT_FOUND")
    item.locator("input[name=note]").fill("Rumah tidak ada di Jl. Merapi No. 12")
    item.get_by_role("button", name="Kembalikan").click()
    expect(verifier.get_by_role("status")).to_contain_text("dikembalikan tercatat")
    operator.goto(f"{base}/proposals/{proposal_id}")
    deadline = time.monotonic() + 60
    while "Dikembalikan" not in operator.locator(".timeline").inner_text() and time.monotonic() < deadline:
        time.sleep(1)
        operator.reload()
    returned = operator.locator(".timeline li", has_text="Dikembalikan")
    expect(returned).to_contain_text("ADDRESS_NOT_FOUND")
    expect(returned).to_contain_text("Rumah tangga tidak ditemukan di alamat yang diberikan")
    expect(returned).to_contain_text("Rumah tidak ada di Jl. Merapi No. 12")
    operator.goto(f"{base}/proposals?status=returned")
    expect(operator.locator(f"a[href='/proposals/{proposal_id}']")).to_have_count(1)


def test_a_form_sent_twice_records_one_proposal(operator: Page, console_system: LocalSystem) -> None:
    """A double click or a resend after a lost answer carries the form's idempotency key: one proposal."""
    base = console_system.urls["console"]
    family = a_family()
    fill_form(operator, base, family)
    fields = {
        name: operator.locator(f"form.proposal input[name={name}]").input_value()
        for name in ("csrf", "idempotency_key", "member_rows")
    }
    form = {
        **fields,
        "kk_number": family["kk_number"],
        "address_street": family["street"],
        "deliberation_kind": "muskel",
        "deliberation_held_on": "2026-11-02",
        "deliberation_minutes_ref": "BA-08/XI/2026",
        "action": "submit",
        **{f"members-{i}-{f}": m[f] for i, m in enumerate(family["members"]) for f in m},
    }
    sent = [
        operator.context.request.post(f"{base}/proposals/new", form=form, max_redirects=0) for _ in range(2)
    ]
    assert [r.status for r in sent] == [303, 303]
    first, second = (r.headers["location"] for r in sent)
    assert first == second
    # Every status: by now the integrity check may have moved it on. Newest first, so it is on page one.
    operator.goto(f"{base}/proposals")
    ours = operator.locator("tr", has=operator.locator(f"a[href='{first.split('?')[0]}']"))
    expect(ours).to_have_count(1)


def test_signing_out_ends_the_session_at_keycloak_too(console_system: LocalSystem, chromium: Browser) -> None:
    base = console_system.urls["console"]
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, base, OPERATOR)
    page.get_by_role("button", name="Keluar").click()
    page.wait_for_url(f"{base}/")
    expect(page.get_by_role("link", name="Masuk")).to_be_visible()
    page.goto(f"{base}/proposals")
    # Not let back in silently: the provider asks for the password again (a shared computer).
    expect(page.locator("#kc-form-login")).to_be_visible()
    context.close()


def _weigh(page: Page, cdp: Any, url: str) -> tuple[int, int]:
    """Bytes transferred to show ``url`` (headers and compressed bodies, as DevTools counts them:
    nothing for what came from the cache) and the requests that went over the network."""
    loaded: list[float] = []

    def finished(event: dict[str, Any]) -> None:
        loaded.append(float(event["encodedDataLength"]))

    cdp.on("Network.loadingFinished", finished)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    cdp.remove_listener("Network.loadingFinished", finished)
    return int(sum(loaded)), sum(1 for n in loaded if n > 0)


def test_the_main_pages_weigh_little_on_first_load_and_less_on_a_repeat_visit(
    chromium: Browser, console_system: LocalSystem, submitted: dict[str, Any], screenshots: Path
) -> None:
    base = console_system.urls["console"]
    figures = []
    for user, pages in (
        (OPERATOR, ["/proposals", "/proposals/new", f"/proposals/{submitted['proposal_id']}"]),
        (VERIFIER, ["/queue"]),
    ):
        context = new_context(chromium)
        page = context.new_page()
        sign_in(page, base, user)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        # The village operator's pages register a service worker, whose requests this page's
        # DevTools would not see: every request goes to the network, as on a first visit.
        cdp.send("Network.setBypassServiceWorker", {"bypass": True})
        for path in pages:
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            first, first_requests = _weigh(page, cdp, base + path)
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
            _weigh(page, cdp, base + path)  # fills the cache
            # A repeat visit: a link followed to the page again (a reload would revalidate every asset).
            repeat, repeat_requests = _weigh(page, cdp, base + path)
            figures.append(
                (
                    path.replace(submitted["proposal_id"], "{id}"),
                    first,
                    first_requests,
                    repeat,
                    repeat_requests,
                )
            )
        context.close()
    report = "\n".join(
        f"{path:<28} first load {first / 1024:6.1f} KB in {n1} requests, repeat {repeat / 1024:5.1f} KB in {n2}"
        for path, first, n1, repeat, n2 in figures
    )
    print(f"\nconsole page weights (over the wire, gzip):\n{report}")
    (screenshots / "page-weights.txt").write_text(report + "\n")
    for path, first, _, repeat, _ in figures:
        assert first < 150 * 1024, path  # the target: every main page under 150 KB first
        assert repeat < 20 * 1024, path  # and under 20 KB on a repeat visit


MINISTRY = ("ministry.verifier", "dev-ministry-verifier")  # the realm's Ministry verifier


def test_a_freeze_declared_by_the_ministry_shows_to_the_district_whose_decision_is_refused_naming_it(
    operator: Page, verifier: Page, console_system: LocalSystem, chromium: Browser, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    register_with_civil_registry(console_system, family)
    fill_form(operator, base, family)
    operator.get_by_role("button", name="Kirim usulan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal_id = operator.url.split("/proposals/")[1].split("?")[0]
    item = _wait_in_queue(verifier, base, proposal_id)
    expect(item.locator(".due")).to_contain_text("tenggat")  # every item shows its due date

    context = new_context(chromium)
    try:
        ministry = context.new_page()
        sign_in(ministry, base, MINISTRY)
        ministry.get_by_role("link", name="Pembekuan dan tenggat").click()
        wib = dt.timezone(dt.timedelta(hours=7))
        now = dt.datetime.now(wib).replace(second=0, microsecond=0)
        reason = f"Audit data Kota Bengkulu {random.randrange(10_000)}"
        ministry.get_by_label("Wilayah: ID untuk seluruh negeri, kode provinsi atau kabupaten/kota").fill(
            "17.71"
        )
        ministry.get_by_label("Mulai (WIB)").fill((now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
        ministry.get_by_label("Berakhir (WIB)").fill((now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
        ministry.locator("#freeze-reason").fill(reason)
        ministry.locator("input[name=actions][value=new_proposals]").check()
        ministry.get_by_role("button", name="Nyatakan pembekuan").click()
        expect(ministry.locator("#governance-done")).to_be_visible()
        freeze = ministry.locator("#freezes li", has_text=reason)
        expect(freeze).to_have_count(1)
        ministry.screenshot(path=str(screenshots / "governance.png"), full_page=True)

        # The district verifier sees the freeze over the queue, and a decision is refused naming it,
        # the reason and note typed kept in the form.
        verifier.goto(f"{base}/queue")
        expect(verifier.locator("section.freeze")).to_contain_text(reason)
        expect(verifier.locator("section.freeze")).to_contain_text("keputusan verifikasi berjenjang")
        item = verifier.locator(f"#item-{proposal_id}")
        item.locator("input[name=note]").fill("Sudah dicek di lapangan")
        item.get_by_role("button", name="Teruskan").click()
        refused = verifier.locator(f"#refused-{proposal_id}")
        expect(refused).to_contain_text(reason)
        # In the reader's language, from the freeze the problem carries (the service says it in English).
        expect(refused).to_contain_text("Dibekukan oleh Kementerian sampai")
        expect(refused).not_to_contain_text("frozen by the Ministry")
        expect(verifier.locator(f"#item-{proposal_id} input[name=note]")).to_have_value(
            "Sudah dicek di lapangan"
        )
        verifier.screenshot(path=str(screenshots / "queue-frozen.png"), full_page=True)

        # The village's new proposal is refused too, said in Indonesian, what was typed kept.
        late = a_family()
        fill_form(operator, base, late)
        operator.get_by_role("button", name="Kirim usulan").click()
        problem = operator.locator("#form-problem")
        expect(problem).to_contain_text("Dibekukan oleh Kementerian sampai")
        expect(problem).to_contain_text(reason)
        expect(operator.locator("#kk_number")).to_have_value(late["kk_number"])
    finally:
        # Lifted through the Ministry's page, so the module's other tests decide as before.
        ministry.goto(f"{base}/governance")
        lift = ministry.locator("#freezes li", has_text=reason)
        lift.locator("form[action$='/lift'] input[name=reason]").fill("Audit selesai")
        lift.get_by_role("button", name="Cabut sekarang").click()
        expect(ministry.locator("#governance-done")).to_be_visible()
        context.close()
    verifier.goto(f"{base}/queue")
    expect(verifier.locator("section.freeze")).to_have_count(0)
    verifier.locator(f"#item-{proposal_id}").get_by_role("button", name="Teruskan").click()
    expect(verifier.get_by_role("status")).to_contain_text("diteruskan tercatat")


def _file_public_complaint(page: Page, base: str, family: dict[str, Any], what: str) -> str:
    page.goto(f"{base}/")
    page.get_by_role("link", name="Ajukan pengaduan").click()
    head = family["members"][0]
    page.get_by_label("NIK pelapor, sesuai KTP").fill(head["nik"])
    page.get_by_label("Nama lengkap, sesuai KTP").fill(head["name"])
    page.get_by_label("Kode desa/kelurahan").fill(VILLAGE)
    page.get_by_label("Nomor telepon untuk jawaban").fill("0812 3456 7890")
    page.get_by_label("Jenis pengaduan").select_option("exclusion")
    page.get_by_label("Apa yang salah").fill(what)
    page.get_by_role("button", name="Kirim pengaduan").click()
    expect(page.locator("#complaint-filed")).to_contain_text("Pengaduan telah tercatat")
    expect(page.locator("#c-nik")).to_have_value("")  # emptied for the next person at the computer
    return page.locator("#tracking-code").inner_text().strip()


def test_a_complaint_filed_on_the_public_page_is_closed_by_the_village_and_checked_by_its_tracking_code(
    operator: Page, console_system: LocalSystem, chromium: Browser, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    context = new_context(chromium)  # a citizen, not signed in
    try:
        citizen = context.new_page()
        what = f"Keluarga kami belum terdaftar padahal miskin ({random.randrange(100_000)})"
        code = _file_public_complaint(citizen, base, a_family(), what)
        citizen.screenshot(path=str(screenshots / "complaint-public.png"), full_page=True)

        operator.get_by_role("link", name="Pengaduan").click()
        item = operator.locator("#complaints li", has_text=what)
        expect(item).to_contain_text("menunggu")  # its age
        expect(item).to_contain_text("Keluarga kami seharusnya terdaftar")
        operator.screenshot(path=str(screenshots / "complaints.png"), full_page=True)
        item.get_by_label("Alasan penutupan").select_option("NO_ERROR_FOUND")
        item.get_by_label("Catatan").fill("Sudah terdaftar di desa lain")
        item.get_by_role("button", name="Tutup pengaduan").click()
        expect(operator.locator("#complaint-closed")).to_be_visible()
        expect(operator.locator("#complaints li", has_text=what)).to_have_count(0)

        citizen.get_by_role("link", name="Cek pengaduan", exact=True).click()
        expect(citizen.locator("#code")).to_have_value(code)
        expect(citizen.locator("#complaint-status-value")).to_have_text("Ditutup")
        expect(citizen.locator("#complaint-next")).to_have_text(
            "Desa sudah memeriksa data dan mendapatinya benar."
        )
        citizen.goto(f"{base}/complaint/status")
        citizen.get_by_label("Kode pelacakan").fill(code)
        citizen.get_by_role("button", name="Periksa").click()
        expect(citizen.locator("#complaint-status-value")).to_have_text("Ditutup")

        # Another complaint becomes a proposal: the form starts with the complainant as the head.
        family = a_family()
        other = f"Kami tinggal di RT 003 dan belum terdaftar ({random.randrange(100_000)})"
        _file_public_complaint(citizen, base, family, other)
        operator.goto(f"{base}/complaints")
        operator.locator("#complaints li", has_text=other).get_by_role("link", name="Jadikan usulan").click()
        expect(operator.locator("#members-0-nik")).to_have_value(family["members"][0]["nik"])
        expect(operator.locator("#members-0-name")).to_have_value(family["members"][0]["name"])
        expect(operator.locator("#from-complaint")).to_be_visible()
    finally:
        context.close()
