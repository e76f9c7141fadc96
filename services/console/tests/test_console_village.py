"""The village operator's work in a real browser, against the real services and Keycloak: a returned
proposal explained in Indonesian, corrected and resubmitted from the form pre-filled with what was
sent; a withdrawal after confirmation; a registered household found by its KK, corrected, another
deactivated; life events of a third confirmed through the pre-filled proposal or dismissed; bulk files (an Excel workbook with a bad row, a CSV with many) and their per-row report;
a proposal made offline, kept in the browser and recorded exactly once when the connection is back;
and an operator of another village refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import csv_bytes, village_rows, xlsx_bytes
from dtks_runtime.identity_testing import Keycloak, KeycloakAdmin
from dtks_runtime.local_system import LocalSystem

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1200)]

VILLAGE = "17.71.01.1001"
DISTRICT, REGENCY, PROVINCE = "17.71.01", "17.71", "17"
OPERATOR = ("operator.1001", "dev-operator-1001")  # village operator of 17.71.01.1001 in the realm
STRANGER = ("operator.1004", "Stranger-operator-1004!")  # added here: the operator of another village
INDONESIAN_DATE = re.compile(
    r"\d{1,2} (Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|November|Desember) "
    r"\d{4} \d{2}\.\d{2} WIB"
)


# ------------------------------------------------------------------ people, families, the services


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="id-ID", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    return context


def sign_in(page: Page, base: str, user: tuple[str, str]) -> None:
    page.goto(f"{base}/")
    page.get_by_role("link", name="Masuk").click()
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#kc-login")
    page.wait_for_url(re.compile(re.escape(base) + r"/proposals"))


def nik(birth: str, sex: str, serial: int) -> str:
    year, month, day = birth.split("-")
    return f"177101{int(day) + (40 if sex == 'female' else 0):02d}{month}{year[2:]}{serial:04d}"


def a_family() -> dict[str, Any]:
    serial = random.randrange(1000, 9998)
    members = [
        {"name": "Budi Santoso", "birth_date": "1978-04-12", "sex": "male", "relation_to_head": "head"},
        {"name": "Sri Wahyuni", "birth_date": "1982-09-05", "sex": "female", "relation_to_head": "spouse"},
    ]
    for i, m in enumerate(members):
        m["nik"] = nik(m["birth_date"], m["sex"], serial + i)
    return {"kk_number": f"17710102112{serial:04d}0", "street": "Jl. Merapi No. 12", "members": members}


def proposal_body(family: dict[str, Any]) -> dict[str, Any]:
    """A new-household proposal as an API client sends it, with fields the console's form does not
    show (a member's education, the assets, the contact): a resubmission must keep them."""
    members = [
        {**m, "education": "senior_secondary" if i == 0 else "junior_secondary"}
        for i, m in enumerate(family["members"])
    ]
    return {
        "kind": "new_household",
        "village_code": VILLAGE,
        "deliberation": {"kind": "muskel", "held_on": "2026-11-02", "minutes_ref": "BA-07/XI/2026"},
        "household": {
            "kk_number": family["kk_number"],
            "address": {"street": family["street"], "rt": "003", "rw": "001", "postal_code": "38211"},
            "members": members,
            "housing": {
                "floor_material": "cement_red_brick",
                "wall_material": "wood",
                "roof_material": "zinc",
            },
            "assets": {"motorcycles": 1, "refrigerator": False},
            "income_band": "below_1m",
            "contact": {"phone": "+6281234567890", "consent": True},
        },
        "programs": ["PKH"],
    }


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


class Api:
    """The services' public APIs with development tokens, for what the test sets up and checks."""

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

    def submit(self, body: dict[str, Any]) -> str:
        answer = self.call("POST", "proposal", "/proposals", Role.VILLAGE_OPERATOR, VILLAGE, json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["proposal_id"])

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        answer = self.call("GET", "proposal", f"/proposals/{proposal_id}", Role.VILLAGE_OPERATOR, VILLAGE)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def proposals_of_kk(self, kk: str) -> list[dict[str, Any]]:
        """Every proposal of the village whose household has this KK (all pages, every status)."""
        found, cursor = [], None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = self.call(
                "GET", "proposal", "/proposals", Role.VILLAGE_OPERATOR, VILLAGE, params=params
            ).json()
            for item in page["items"]:
                content = self.proposal(item["proposal_id"]).get("content") or {}
                if (content.get("household") or {}).get("kk_number") == kk:
                    found.append(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def wait_in_queue(self, tier: str, role: Role, region: str, proposal_id: str) -> None:
        def there() -> bool:
            items = self.call("GET", "verification", f"/queues/{tier}", role, region, params={"limit": 1000})
            return any(i["proposal_id"] == proposal_id for i in items.json().get("items", []))

        until(there, f"{proposal_id} in the {tier} queue")

    def decide(
        self, tier: str, role: Role, region: str, proposal_id: str, decision: str = "forward", **extra: Any
    ) -> None:
        self.wait_in_queue(tier, role, region, proposal_id)
        body = {"proposal_id": proposal_id, "tier": tier, "decision": decision, **extra}
        answer = self.call("POST", "verification", "/decisions", role, region, json=body)
        assert answer.status_code in (200, 201), answer.text

    def through_every_tier(self, proposal_ids: list[str], decree: str) -> None:
        for pid in proposal_ids:
            self.decide("district", Role.DISTRICT_VERIFIER, DISTRICT, pid)
            self.decide("regency", Role.REGENCY_OPERATOR, REGENCY, pid)
        for pid in proposal_ids:
            self.wait_in_queue("regent", Role.REGENT, REGENCY, pid)
        ratification = {
            "regency_code": REGENCY,
            "decree_number": decree,
            "decree_date": dt.date.today().isoformat(),
            "proposal_ids": proposal_ids,
        }
        answer = self.call("POST", "verification", "/ratifications", Role.REGENT, REGENCY, json=ratification)
        assert answer.status_code in (200, 201), answer.text
        for pid in proposal_ids:
            self.decide("province", Role.PROVINCE_VERIFIER, PROVINCE, pid)
            self.decide("ministry", Role.MINISTRY_VERIFIER, "ID", pid)

    def determine(self, proposal_ids: list[str], decree: str) -> dict[str, Any]:
        for pid in proposal_ids:
            until(
                lambda pid=pid: (
                    self.call(
                        "GET", "registry", f"/candidates/{pid}", Role.MINISTRY_DETERMINER, "ID"
                    ).status_code
                    == 200
                ),
                f"{pid} a candidate of the registry",
            )
        body = {"decree_number": decree, "period": "2026-10", "cutoff": dt.datetime.now(dt.UTC).isoformat()}
        answer = self.call("POST", "registry", "/determinations", Role.MINISTRY_DETERMINER, "ID", json=body)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())


def until(check: Callable[[], bool], what: str, within: float = 180) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def reload_until(page: Page, text: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while text not in page.locator("main").inner_text() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def api(console_system: LocalSystem) -> Api:
    return Api(console_system)


@pytest.fixture(scope="module")
def operator(console_system: LocalSystem, chromium: Browser) -> Iterator[Page]:
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, console_system.urls["console"], OPERATOR)
    yield page
    context.close()


@pytest.fixture(scope="module")
def registered(api: Api, console_system: LocalSystem) -> list[dict[str, Any]]:
    """Three households of the village fixed in the register by a decree, walked there through the
    APIs: one to correct, one to deactivate, one the civil registry's life events touch."""
    families = [a_family(), a_family(), a_family()]
    ids = []
    for family in families:
        register_with_civil_registry(console_system, family)
        ids.append(api.submit(proposal_body(family)))
    api.through_every_tier(ids, "400/777/KPTS/2026")
    decree = api.determine(ids, "77/HUK/2026")
    households = []
    for family in families:
        found = api.call(
            "GET",
            "registry",
            "/households",
            Role.VILLAGE_OPERATOR,
            VILLAGE,
            params={"kk": family["kk_number"]},
        ).json()["households"]
        assert len(found) == 1, (decree, found)
        households.append({**found[0], "family": family})
    return households


# ------------------------------------------------------------------ a returned proposal


def test_a_returned_proposal_shows_its_reasons_in_indonesian_and_is_resubmitted_from_the_form_as_sent(
    operator: Page, api: Api, console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    register_with_civil_registry(console_system, family)
    proposal_id = api.submit(proposal_body(family))
    api.decide(
        "district",
        Role.DISTRICT_VERIFIER,
        DISTRICT,
        proposal_id,
        "return",
        reasons=["ADDRESS_NOT_FOUND", "DELIBERATION_MISSING"],
        note="Rumah tidak ada di Jl. Merapi No. 12",
    )
    operator.goto(f"{base}/proposals/{proposal_id}")
    reload_until(operator, "Alasan dikembalikan")
    reasons = operator.locator("section.returned")
    # The contracts' reasons as words and sentences in Indonesian, not as codes.
    expect(reasons).to_contain_text("Alamat tidak ditemukan")
    expect(reasons).to_contain_text("Rumah tangga tidak ditemukan di alamat yang diberikan")
    expect(reasons).to_contain_text("Rumah tidak ada di Jl. Merapi No. 12")
    assert "ADDRESS_NOT_FOUND" not in reasons.inner_text()
    assert "DELIBERATION_MISSING" not in reasons.inner_text()
    # Dates written as Indonesian writes them, by the server.
    expect(operator.locator(".timeline time").first).to_have_text(INDONESIAN_DATE)
    operator.screenshot(path=str(screenshots / "proposal-returned.png"), full_page=True)

    operator.get_by_role("link", name="Perbaiki dan ajukan ulang").click()
    # The form holds what was sent.
    expect(operator.locator("#kk_number")).to_have_value(family["kk_number"])
    expect(operator.locator("#address_street")).to_have_value(family["street"])
    expect(operator.locator("#members-1-name")).to_have_value("Sri Wahyuni")
    expect(operator.locator("#members-1-nik")).to_have_value(family["members"][1]["nik"])
    expect(operator.locator("#deliberation_minutes_ref")).to_have_value("BA-07/XI/2026")
    expect(operator.locator("#floor_material")).to_have_value("cement_red_brick")
    expect(operator.locator("input[name=programs][value=PKH]")).to_be_checked()
    expect(operator.locator("section.returned")).to_contain_text("Alamat tidak ditemukan")
    operator.fill("#address_street", "Jl. Merapi No. 21")
    operator.fill("#deliberation_minutes_ref", "BA-09/XI/2026")
    operator.fill("#correction_note", "Nomor rumah diperbaiki; berita acara dilampirkan")
    operator.screenshot(path=str(screenshots / "resubmit-form.png"), full_page=True)
    operator.get_by_role("button", name="Ajukan ulang usulan").click()
    operator.wait_for_url(re.compile(rf"/proposals/{proposal_id}\?sent=1"))
    expect(operator.locator(".timeline")).to_contain_text("Diajukan ulang")

    after = api.proposal(proposal_id)
    assert after["round"] == 2
    household = after["content"]["household"]
    assert household["address"]["street"] == "Jl. Merapi No. 21"
    # What the form does not show was sent back as it was.
    assert household["address"]["postal_code"] == "38211"
    assert household["contact"] == {"phone": "+6281234567890", "consent": True}
    assert household["assets"]["motorcycles"] == 1
    assert [m["education"] for m in household["members"]] == ["senior_secondary", "junior_secondary"]
    assert after["content"]["deliberation"]["minutes_ref"] == "BA-09/XI/2026"


def test_a_returned_proposal_made_from_a_life_event_still_names_that_event_when_resubmitted(
    operator: Page, api: Api, console_system: LocalSystem
) -> None:
    """The proposal service keeps civil_registry_ref on a resubmission only if it is sent again; the
    form does not show it, so the console sends back what the returned proposal named."""
    base = console_system.urls["console"]
    run = random.randrange(1_000_000)
    deliberation = {"kind": "muskel", "held_on": "2026-11-20", "minutes_ref": "BA-14/XI/2026"}
    # Households the register does not hold: the entry check returns both without anyone deciding.
    correction = {
        **proposal_body(a_family()),
        "kind": "correction",
        "household_id": f"HH-UNKNOWN-C-{run}",
        "deliberation": deliberation,
        "civil_registry_ref": f"DUK-D-C-{run}",
    }
    deactivation = {
        "kind": "deactivation",
        "village_code": VILLAGE,
        "household_id": f"HH-UNKNOWN-D-{run}",
        "reason": "died",
        "evidence_note": "Akta kematian 1771-KM-01122026-0001",
        "deliberation": deliberation,
        "civil_registry_ref": f"DUK-D-D-{run}",
    }
    for body in (correction, deactivation):
        proposal_id = api.submit(body)
        until(lambda pid=proposal_id: api.proposal(pid)["status"] == "returned", f"{proposal_id} returned")
        operator.goto(f"{base}/proposals/{proposal_id}/resubmit")
        operator.fill("#correction_note", "Diajukan ulang dari peristiwa kependudukan")
        operator.get_by_role("button", name="Ajukan ulang usulan").click()
        operator.wait_for_url(re.compile(rf"/proposals/{proposal_id}\?sent=1"))
        after = api.proposal(proposal_id)
        assert after["round"] == 2
        assert after["content"]["civil_registry_ref"] == body["civil_registry_ref"]


def test_a_proposal_is_withdrawn_only_after_the_operator_confirms_it(
    operator: Page, api: Api, console_system: LocalSystem
) -> None:
    base = console_system.urls["console"]
    proposal_id = api.submit(proposal_body(a_family()))
    operator.goto(f"{base}/proposals/{proposal_id}")
    operator.get_by_role("link", name="Tarik usulan").click()
    expect(operator.locator("h1")).to_contain_text("Tarik usulan")
    # Leaving the confirmation page changes nothing.
    operator.get_by_role("link", name="Tidak, pertahankan").click()
    assert api.proposal(proposal_id)["status"] != "withdrawn"
    operator.get_by_role("link", name="Tarik usulan").click()
    operator.fill("#reason", "Keluarga pindah sebelum diverifikasi")
    operator.get_by_role("button", name="Ya, tarik usulan").click()
    expect(operator.get_by_role("status")).to_have_text("Usulan telah ditarik.")
    expect(operator.locator(".facts")).to_contain_text("Ditarik")
    assert api.proposal(proposal_id)["status"] == "withdrawn"
    # A withdrawn proposal offers neither action again.
    expect(operator.get_by_role("link", name="Tarik usulan")).to_have_count(0)


# ------------------------------------------------------------------ registered households


def test_a_registered_household_is_found_by_its_kk_and_corrected_from_the_registers_record(
    operator: Page, api: Api, registered: list[dict[str, Any]], console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    record = registered[0]
    operator.goto(f"{base}/households")
    operator.fill("#q", record["kk_number"])
    operator.get_by_role("button", name="Cari").click()
    row = operator.locator(f"#household-{record['household_id']}")
    expect(row).to_contain_text("Aktif")
    row.get_by_role("link", name="Perbaiki").click()
    expect(operator.locator("#kk_number")).to_have_value(record["kk_number"])
    expect(operator.locator("#members-0-name")).to_have_value("Budi Santoso")
    operator.fill("#address_street", "Jl. Kenanga No. 3")
    operator.select_option("#deliberation_kind", "muskel")
    operator.fill("#deliberation_held_on", "2026-11-20")
    operator.fill("#deliberation_minutes_ref", "BA-11/XI/2026")
    operator.screenshot(path=str(screenshots / "correction-form.png"), full_page=True)
    operator.get_by_role("button", name="Kirim usulan perbaikan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal = api.proposal(operator.url.split("/proposals/")[1].split("?")[0])
    assert proposal["kind"] == "correction"
    assert proposal["target_household_id"] == record["household_id"]
    assert proposal["content"]["household"]["address"]["street"] == "Jl. Kenanga No. 3"
    assert proposal["content"]["household"]["contact"]["phone"] == "+6281234567890"


def test_a_registered_household_is_deactivated_with_its_reason_and_the_minutes(
    operator: Page, api: Api, registered: list[dict[str, Any]], console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    record = registered[1]
    operator.goto(f"{base}/households?q={record['household_id']}")
    operator.locator(f"#household-{record['household_id']}").get_by_role("link", name="Nonaktifkan").click()
    operator.fill("#evidence_note", "Surat keterangan pindah dari Ketua RT 003")
    operator.select_option("#deliberation_kind", "muskel")
    operator.fill("#deliberation_held_on", "2026-11-20")
    operator.fill("#deliberation_minutes_ref", "BA-12/XI/2026")
    operator.get_by_role("button", name="Kirim usulan penonaktifan").click()  # no reason chosen: refused
    expect(operator.locator("#form-problem")).to_contain_text("perlu diperbaiki")
    expect(operator.locator("#reason-error")).to_be_visible()
    expect(operator.locator("#deliberation_minutes_ref")).to_have_value("BA-12/XI/2026")  # kept
    operator.select_option("#reason", "moved_away")
    expect(operator.locator("#reason option:checked")).to_have_text("Pindah domisili")
    operator.screenshot(path=str(screenshots / "deactivation-form.png"), full_page=True)
    operator.get_by_role("button", name="Kirim usulan penonaktifan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal = api.proposal(operator.url.split("/proposals/")[1].split("?")[0])
    assert proposal["kind"] == "deactivation"
    assert proposal["content"]["deactivation_reason"] == "moved_away"
    assert proposal["content"]["deliberation"]["minutes_ref"] == "BA-12/XI/2026"
    assert proposal["target_household_id"] == record["household_id"]


# ------------------------------------------------------------------ life events


def test_life_events_open_drafts_the_village_confirms_through_the_pre_filled_form_or_dismisses(
    operator: Page, api: Api, registered: list[dict[str, Any]], console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    record = registered[2]
    head, spouse = record["family"]["members"]
    child = nik("2026-10-01", "male", random.randrange(1000, 9999))
    run = random.randrange(1_000_000)
    events = [
        {
            "event_type": "civil_registry.person_died",
            "payload": {"life_event_id": f"DUK-D-{run}", "nik": spouse["nik"], "died_on": "2026-11-01"},
        },
        {
            "event_type": "civil_registry.child_born",
            "payload": {
                "life_event_id": f"DUK-B-{run}",
                "nik": child,
                "kk_number": record["kk_number"],
                "parent_niks": [head["nik"]],
                "born_on": "2026-10-01",
            },
        },
    ]

    def drafted() -> bool:
        # Sent again until the complaints service knows the decree's household (one draft each still).
        sent = httpx.post(
            f"{console_system.urls['civil-registry']}/admin/life-events", json={"events": events}
        )
        assert sent.status_code == 200, sent.text
        got = api.call(
            "GET",
            "complaint",
            "/life-event-drafts",
            Role.VILLAGE_OPERATOR,
            VILLAGE,
            params={"region": VILLAGE},
        )
        return {spouse["nik"], child} <= {d["nik"] for d in got.json()["items"]}

    until(drafted, "the life events' drafts")
    operator.goto(f"{base}/proposals")
    operator.get_by_role("link", name="Peristiwa kependudukan").click()
    death = operator.locator("#drafts li", has_text=spouse["nik"])
    expect(death).to_contain_text("Kematian")
    expect(death).to_contain_text("Sri Wahyuni")  # the person, as the register has them
    expect(death).to_contain_text(record["household_id"])
    expect(death).to_contain_text("menunggu")  # its age
    expect(death).to_contain_text("Perbaikan")
    operator.screenshot(path=str(screenshots / "life-events.png"), full_page=True)

    # Confirm: the correction form holds the household without the member who died.
    death.get_by_role("link", name="Konfirmasi: periksa usulannya").click()
    expect(operator.locator("#from-draft")).to_contain_text(f"DUK-D-{run}")
    expect(operator.locator("#members-0-nik")).to_have_value(head["nik"])
    expect(operator.locator(f"input[value='{spouse['nik']}']")).to_have_count(0)
    expect(operator.locator("#kk_number")).to_have_value(record["kk_number"])
    operator.select_option("#deliberation_kind", "muskel")
    operator.fill("#deliberation_held_on", "2026-11-20")
    operator.fill("#deliberation_minutes_ref", "BA-13/XI/2026")
    operator.screenshot(path=str(screenshots / "life-event-confirm.png"), full_page=True)
    operator.get_by_role("button", name="Kirim usulan perbaikan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    proposal_id = operator.url.split("/proposals/")[1].split("?")[0]
    proposal = api.proposal(proposal_id)
    assert (proposal["kind"], proposal["target_household_id"]) == ("correction", record["household_id"])
    assert [m["nik"] for m in proposal["content"]["household"]["members"]] == [head["nik"]]
    assert proposal["content"]["household"]["contact"]["phone"] == "+6281234567890"  # kept
    assert proposal["content"]["civil_registry_ref"] == f"DUK-D-{run}"  # the life event it is made of

    # Dismiss the birth with a reason, its meaning shown beside the choice.
    operator.get_by_role("link", name="Peristiwa kependudukan").click()
    expect(operator.locator("#drafts li", has_text=spouse["nik"])).to_have_count(0)
    birth = operator.locator("#drafts li", has_text=child)
    expect(birth).to_contain_text("Kelahiran")
    birth.get_by_text("Arti setiap alasan").click()
    expect(birth.locator("details")).to_contain_text("laporkan ke Dinas Dukcapil")
    birth.get_by_label("Alasan penolakan").select_option("CIVIL_RECORD_WRONG")
    birth.get_by_label("Catatan").fill("Anak dari keluarga lain")
    birth.get_by_role("button", name="Tolak draf").click()
    expect(operator.locator("#draft-dismissed")).to_be_visible()
    expect(operator.locator("#drafts li", has_text=child)).to_have_count(0)

    def decided(status: str) -> dict[str, Any]:
        got = api.call(
            "GET",
            "complaint",
            "/life-event-drafts",
            Role.VILLAGE_OPERATOR,
            VILLAGE,
            params={"region": VILLAGE, "status": status},
        )
        return {d["nik"]: d for d in got.json()["items"]}

    assert decided("confirmed")[spouse["nik"]]["proposal_id"] == proposal_id
    dismissed = decided("dismissed")[child]
    assert (dismissed["dismissal_reason"], dismissed["dismissal_note"]) == (
        "CIVIL_RECORD_WRONG",
        "Anak dari keluarga lain",
    )


# ------------------------------------------------------------------ bulk files


def _upload(page: Page, base: str, name: str, data: bytes, mime: str) -> None:
    page.goto(f"{base}/imports/new")
    page.set_input_files("#file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.select_option("#deliberation_kind", "muskel")
    page.fill("#deliberation_held_on", "2026-10-20")
    page.fill("#deliberation_minutes_ref", "BA-07/MUSKEL/X/2026")
    page.get_by_role("button", name="Unggah", exact=True).click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f-]{36}$"))
    # The report refreshes itself until the service has worked the whole file.
    expect(page.locator("#import-status")).to_have_text("Selesai", timeout=120_000)


def test_a_workbook_with_a_bad_row_shows_that_row_rejected_with_its_reason(
    operator: Page, console_system: LocalSystem, screenshots: Path
) -> None:
    rows = village_rows(4, village=VILLAGE, seed=random.randrange(1_000_000))
    rows[2]["nik"] = "12345"  # the sheet's row 4 (row 1 names the columns)
    bad_kk = rows[2]["kk_number"]
    _upload(
        operator,
        console_system.urls["console"],
        "daftar-usulan.xlsx",
        xlsx_bytes(rows),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    bad = operator.locator("#row-4-nik")
    expect(bad).to_contain_text(bad_kk)
    expect(bad).to_contain_text("16")  # the service's reason: a NIK has 16 digits
    household_rows = sum(1 for r in rows if r["kk_number"] == bad_kk)
    expect(operator.locator("#rows-rejected")).to_have_text(str(household_rows))
    expect(operator.locator("#rows-accepted")).to_have_text(str(len(rows) - household_rows))
    operator.screenshot(path=str(screenshots / "import-report.png"), full_page=True)


def test_a_bad_files_rejected_rows_are_said_in_indonesian_from_the_consoles_catalogue(
    operator: Page, console_system: LocalSystem
) -> None:
    rows = village_rows(3, village=VILLAGE, seed=random.randrange(1_000_000))
    rows[0]["nik"] = "12345"  # the file's row 2
    bad_kk = rows[0]["kk_number"]
    same_household = [i + 2 for i, r in enumerate(rows) if r["kk_number"] == bad_kk and i > 0]
    rows.append({**rows[-1], "kk_number": ""})  # a row of no household
    _upload(operator, console_system.urls["console"], "salah.csv", csv_bytes(rows), "text/csv")
    expect(operator.locator("#row-2-nik")).to_contain_text("NIK tidak sah")
    for number in same_household:
        expect(operator.locator(f"#row-{number}-kk_number")).to_contain_text(
            "Keluarga ini ditolak karena baris 2"
        )
    expect(operator.locator(f"#row-{len(rows) + 1}-kk_number")).to_contain_text(
        "Setiap baris perlu nomor KK keluarganya"
    )
    expect(operator.locator("table.rejected")).not_to_contain_text("rejected because")


def test_a_csv_with_many_bad_rows_reports_them_a_page_at_a_time(
    operator: Page, console_system: LocalSystem
) -> None:
    rows = village_rows(12, village=VILLAGE, seed=random.randrange(1_000_000))
    for row in rows:
        row["sex"] = "x"  # every row refused
    _upload(operator, console_system.urls["console"], "daftar.csv", csv_bytes(rows), "text/csv")
    expect(operator.locator("#rows-rejected")).to_have_text(str(len(rows)))
    first_page = operator.locator("table.rejected tbody tr")
    expect(first_page).to_have_count(20)
    seen = set(first_page.all_inner_texts())
    operator.get_by_role("link", name="Halaman berikutnya").click()
    expect(operator.locator("table.rejected tbody tr").first).to_be_visible()
    rest = set(operator.locator("table.rejected tbody tr").all_inner_texts())
    assert rest and not seen & rest


# ------------------------------------------------------------------ offline


def fill_form(page: Page, base: str, family: dict[str, Any]) -> None:
    page.goto(f"{base}/proposals/new")
    page.fill("#kk_number", family["kk_number"])
    page.fill("#address_street", family["street"])
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


def test_a_proposal_made_offline_waits_in_the_browser_and_is_recorded_once_when_the_connection_is_back(
    operator: Page, api: Api, console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    register_with_civil_registry(console_system, family)
    context = operator.context
    fill_form(operator, base, family)
    # The first sending reaches the service, but its answer is lost on the way back (as on a link
    # that drops): the browser must send it again, and the service must record it once.
    sends: list[str] = []

    def answer_lost_once(route: Route) -> None:
        sends.append(route.request.post_data or "")
        reply = route.fetch()
        if len(sends) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=reply)

    operator.route("**/outbox/proposals", answer_lost_once)
    context.set_offline(True)
    try:
        operator.get_by_role("button", name="Kirim usulan").click()
        saved = operator.locator("#outbox-saved")
        expect(saved).to_contain_text("menunggu dikirim")
        expect(operator.locator("#outbox-count")).to_have_text("(1)")
        # Still on the form, nothing sent: the service knows nothing of it yet.
        assert api.proposals_of_kk(family["kk_number"]) == []
        operator.screenshot(path=str(screenshots / "offline-waiting.png"), full_page=True)
    finally:
        context.set_offline(False)
    # Back online: sent by itself, the lost answer retried with the same key.
    expect(operator.locator("#outbox-count")).to_have_text("", timeout=60_000)
    expect(saved).to_contain_text("sudah dikirim dan tercatat")
    operator.unroute("**/outbox/proposals")
    assert len(sends) >= 2
    keys = {re.search(r"idempotency_key=([^&]+)", body).group(1) for body in sends}  # type: ignore[union-attr]
    assert len(keys) == 1
    recorded = api.proposals_of_kk(family["kk_number"])
    assert len(recorded) == 1, recorded
    # The operator sees what was sent and what the service said.
    operator.goto(f"{base}/outbox")
    sent = operator.locator("#outbox-sent li.entry", has_text=family["kk_number"])
    expect(sent).to_contain_text("terkirim")
    expect(sent).to_contain_text("tercatat sebagai usulan")
    expect(sent.get_by_role("link")).to_have_attribute("href", f"/proposals/{recorded[0]['proposal_id']}")
    operator.screenshot(path=str(screenshots / "outbox.png"), full_page=True)


def test_a_proposal_sent_offline_and_refused_says_why_and_goes_back_to_the_form_to_correct(
    operator: Page, api: Api, console_system: LocalSystem
) -> None:
    base = console_system.urls["console"]
    family = a_family()
    register_with_civil_registry(console_system, family)
    good_nik = family["members"][1]["nik"]
    family["members"][1]["nik"] = "12345"  # not 16 digits: the service refuses it once it gets it
    fill_form(operator, base, family)
    operator.context.set_offline(True)
    try:
        operator.get_by_role("button", name="Kirim usulan").click()
        expect(operator.locator("#outbox-saved")).to_contain_text("menunggu dikirim")
    finally:
        operator.context.set_offline(False)
    expect(operator.locator("#outbox-count")).to_have_text("", timeout=60_000)
    operator.goto(f"{base}/outbox")
    refused = operator.locator("#outbox-sent li.entry", has_text=family["kk_number"])
    expect(refused).to_contain_text("ditolak oleh layanan")
    expect(refused).to_contain_text("16")  # the service's reason: a NIK has 16 digits
    refused.get_by_role("button", name="Perbaiki di formulir").click()
    operator.wait_for_url(re.compile(r"/proposals/new\?draft="))
    expect(operator.locator("#members-1-nik")).to_have_value("12345")
    expect(operator.locator("#kk_number")).to_have_value(family["kk_number"])
    expect(operator.locator("#members-0-name")).to_have_value("Budi Santoso")
    operator.fill("#members-1-nik", good_nik)
    operator.get_by_role("button", name="Kirim usulan").click()
    operator.wait_for_url(re.compile(r"/proposals/[0-9a-f-]{36}\?sent=1"))
    assert len(api.proposals_of_kk(family["kk_number"])) == 1
    operator.goto(f"{base}/outbox")  # the refused entry became the draft, and the draft was sent
    expect(operator.locator("#outbox-state")).to_have_text("Terhubung.")  # the lists are drawn
    expect(operator.locator("#outbox")).not_to_contain_text(family["kk_number"])


def test_a_draft_typed_offline_survives_a_reload_from_the_service_workers_copy(
    operator: Page, console_system: LocalSystem
) -> None:
    base = console_system.urls["console"]
    operator.goto(f"{base}/proposals/new")
    operator.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    operator.reload()  # the form, now fetched through the worker, is kept for when the link is down
    context = operator.context
    context.set_offline(True)
    try:
        operator.fill("#kk_number", "1771010211299990")
        operator.fill("#address_street", "Jl. Draf No. 1")
        operator.wait_for_timeout(1000)  # the draft is saved a moment after typing stops
        operator.reload()  # no connection: the worker's copy of the form
        expect(operator.locator("#kk_number")).to_have_value("")
        operator.get_by_role("button", name="Lanjutkan draf").click()
        expect(operator.locator("#kk_number")).to_have_value("1771010211299990")
        expect(operator.locator("#address_street")).to_have_value("Jl. Draf No. 1")
    finally:
        context.set_offline(False)


# ------------------------------------------------------------------ another village


def test_an_operator_of_another_village_sees_and_changes_nothing_of_this_one(
    chromium: Browser,
    keycloak: Keycloak,
    api: Api,
    registered: list[dict[str, Any]],
    console_system: LocalSystem,
) -> None:
    base = console_system.urls["console"]
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps an event loop in this one
        thread.submit(
            asyncio.run,
            KeycloakAdmin(keycloak).add_user(STRANGER[0], STRANGER[1], "village_operator", "17.71.01.1004"),
        ).result()
    proposal_id = api.submit(proposal_body(a_family()))
    context = new_context(chromium)
    page = context.new_page()
    try:
        sign_in(page, base, STRANGER)
        for path in (
            f"/proposals/{proposal_id}",
            f"/proposals/{proposal_id}/resubmit",
            f"/proposals/{proposal_id}/withdraw",
        ):
            reply = page.goto(base + path)
            assert reply is not None and reply.status == 404, path
        page.goto(f"{base}/households?q={registered[0]['kk_number']}")
        expect(page.locator("#not-found")).to_be_visible()
        reply = page.goto(f"{base}/households/{registered[0]['household_id']}/correction")
        assert reply is not None and reply.status == 404
        csrf = page.locator("input[name=csrf]").first.input_value()
        refused = page.request.post(
            f"{base}/proposals/{proposal_id}/withdraw", form={"csrf": csrf, "reason": "bukan urusan saya"}
        )
        assert refused.status == 404
        assert api.proposal(proposal_id)["status"] != "withdrawn"
    finally:
        context.close()


# ------------------------------------------------------------------ page weight


def _weigh(page: Page, cdp: Any, url: str) -> int:
    """Bytes transferred to show ``url``, as DevTools counts them (nothing for what came from the cache)."""
    loaded: list[float] = []

    def finished(event: dict[str, Any]) -> None:
        loaded.append(float(event["encodedDataLength"]))

    cdp.on("Network.loadingFinished", finished)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    cdp.remove_listener("Network.loadingFinished", finished)
    return int(sum(loaded))


def test_the_village_pages_weigh_little_first_and_less_again(
    chromium: Browser, console_system: LocalSystem, screenshots: Path
) -> None:
    base = console_system.urls["console"]
    context = new_context(chromium)
    page = context.new_page()
    sign_in(page, base, OPERATOR)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setBypassServiceWorker", {"bypass": True})  # see test_console_browser.py
    figures = []
    for path in ("/households", "/imports/new", "/outbox"):
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        first = _weigh(page, cdp, base + path)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
        _weigh(page, cdp, base + path)
        figures.append((path, first, _weigh(page, cdp, base + path)))
    context.close()
    report = "\n".join(
        f"{p:<14} first load {f / 1024:5.1f} KB, repeat {r / 1024:4.1f} KB" for p, f, r in figures
    )
    print(f"\nvillage page weights (over the wire, gzip):\n{report}")
    (screenshots / "village-page-weights.txt").write_text(report + "\n")
    for path, first, repeat in figures:
        assert 10 * 1024 < first < 150 * 1024, path  # with every asset, and within the target
        assert repeat < 20 * 1024, path
