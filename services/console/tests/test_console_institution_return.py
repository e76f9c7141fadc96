"""An institution's proposal (LKS, #19) returned by the province and corrected in the console by the
regency's social service, through Keycloak and a real browser: the return's reasons beside a form
holding what was sent, the correction sent again, and the proposal back at the regency's tier."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import institution_body
from dtks_runtime.auth.dev_users import tier_users
from dtks_runtime.local_system import LocalSystem

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1200)]

VILLAGE = "17.71.01.1001"
REGENCY = {u.username: u for u in tier_users("17.71")}["operator.1771"]


def _until(arrived: Callable[[], bool], what: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not arrived():
        assert time.monotonic() < deadline, f"{what} did not happen within {within:.0f} s"
        time.sleep(1)


def _in_queue(http: httpx.Client, system: LocalSystem, tier: str, role: Role, region: str, pid: str) -> bool:
    answer = http.get(
        f"{system.urls['verification']}/queues/{tier}",
        params={"limit": 1000, "order": "newest"},
        headers=system.headers(role, region),
    )
    return pid in {i["proposal_id"] for i in answer.json()["items"]}


def _civil_record(resident: dict[str, Any], sex: str, kk: str) -> dict[str, Any]:
    return {
        "nik": resident["nik"], "name": resident["name"], "birth_date": resident["birth_date"], "sex": sex,
        "kk_number": kk, "address": "Jl. Merapi No. 21", "rt": "004", "rw": "002", "village_code": VILLAGE,
        "alive": True, "died_on": None, "moved_to": None, "moved_on": None, "relation_to_head": "child",
    }  # fmt: skip


def test_the_social_service_corrects_a_returned_institution_in_the_console_and_it_waits_at_the_regency_again(
    console_system: LocalSystem, chromium: Browser
) -> None:
    system, base = console_system, console_system.urls["console"]
    registration = institution_body(VILLAGE)
    pid = registration["proposal_id"]
    residents = registration["institution"]["residents"]
    with httpx.Client(timeout=60) as http:
        people = [
            _civil_record(residents[0], "male", "1771010101100001"),
            _civil_record(residents[1], "female", "1771010101100002"),
        ]
        loaded = http.post(f"{system.urls['civil-registry']}/people", json={"people": people})
        assert loaded.status_code in (200, 201), loaded.text
        sent = http.post(
            f"{system.urls['proposal']}/proposals",
            json=registration,
            headers=system.headers(Role.REGENCY_OPERATOR, "17.71"),
        )
        assert sent.status_code == 201, sent.text
        # The regency forwards it; the province returns it with a coded reason.
        for tier, role, region, decision in (
            ("regency", Role.REGENCY_OPERATOR, "17.71", {"decision": "forward"}),
            (
                "province",
                Role.PROVINCE_VERIFIER,
                "17",
                {"decision": "return", "reasons": ["ADDRESS_NOT_FOUND"]},
            ),
        ):
            _until(
                lambda t=tier, r=role, g=region: _in_queue(http, system, t, r, g, pid),  # type: ignore[misc]
                f"the institution at the {tier}",
            )
            decided = http.post(
                f"{system.urls['verification']}/decisions",
                json={"proposal_id": pid, "tier": tier, **decision},
                headers=system.headers(role, region),
            )
            assert decided.status_code == 200, decided.text

    context = chromium.new_context(locale="id-ID", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        page.goto(f"{base}/")
        page.get_by_role("link", name="Masuk").click()
        page.fill("#username", REGENCY.username)
        page.fill("#password", REGENCY.password)
        page.click("#kc-login")
        page.wait_for_url(re.compile(re.escape(base) + r"/\w+"))

        def returned() -> bool:
            page.goto(f"{base}/proposals/{pid}")
            return page.get_by_role("link", name="Perbaiki dan ajukan ulang").count() == 1

        _until(returned, "the return at the social service's proposal page")
        page.get_by_role("link", name="Perbaiki dan ajukan ulang").click()
        # What was sent, with the province's reason beside it.
        expect(page.get_by_label("Nama LKS")).to_have_value("LKSA Harapan Bunda")
        expect(page.get_by_label("Jalan")).to_have_value("Jl. Merapi No. 21")
        expect(page.locator("main")).to_contain_text("Alamat tidak ditemukan")
        page.get_by_label("Jalan").fill("Jl. Merapi Raya No. 21A")
        page.get_by_label("Yang diperbaiki").fill("Alamat diperbaiki setelah kunjungan")
        page.get_by_role("button", name="Ajukan ulang usulan").click()
        page.wait_for_url(re.compile(rf"/proposals/{pid}\?sent=1"))
    finally:
        context.close()

    with httpx.Client(timeout=60) as http:
        _until(
            lambda: _in_queue(http, system, "regency", Role.REGENCY_OPERATOR, "17.71", pid),
            "the corrected institution back at the regency",
        )
        standing = http.get(
            f"{system.urls['proposal']}/proposals/{pid}",
            headers=system.headers(Role.REGENCY_OPERATOR, "17.71"),
        ).json()
    assert standing["content"]["institution"]["address"]["street"] == "Jl. Merapi Raya No. 21A"
    # What the form does not show went again as it was sent.
    kept = standing["content"]["institution"]
    assert [(r["nik"], r["name"], r["admitted_on"]) for r in kept["residents"]] == [
        (r["nik"], r["name"], r["admitted_on"]) for r in residents
    ]
    assert kept["licence"]["number"] == registration["institution"]["licence"]["number"]
