"""The citizens' page, without sign-in: is this person in the register in force, and in which
programs. The console only asks the registry's public check, which masks the answer and limits how
often an address may ask; a refusal for asking too often is shown as a polite wait."""

from __future__ import annotations

import re

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from dtks_console.backend import Services
from dtks_console.pages import render

router = APIRouter()
NIK = re.compile(r"^[0-9]{16}$")


@router.get("/check")
async def check_form(request: Request) -> Response:
    return render(request, "check.html", user=None, typed={"nik": "", "name": ""})


@router.post("/check")
async def check(request: Request) -> Response:
    data = await request.form()
    # Spaces people type between the NIK's groups are not part of it.
    typed = {"nik": re.sub(r"\s", "", str(data.get("nik", ""))), "name": str(data.get("name", "")).strip()}
    errors: dict[str, str] = {}
    if not NIK.match(typed["nik"]):
        errors["nik"] = "The NIK has 16 digits, as on the identity card."
    if not typed["name"] or len(typed["name"]) > 200:
        errors["name"] = "Write the full name as on the identity card."
    if errors:
        return render(request, "check.html", http_status=422, user=None, typed=typed, errors=errors)
    services: Services = request.app.state.services
    try:
        answer = await services.http.get(
            f"{services.base['registry']}/public/registration-status",
            params=typed,
            # The registry counts its limit per address; it reads this header only when it trusts
            # the console as its proxy (DTKS_FORWARDED_ALLOW_IPS), otherwise the console's address counts.
            headers={"X-Forwarded-For": request.client.host if request.client else "unknown"},
        )
    except httpx.HTTPError:
        return render(request, "check.html", http_status=503, user=None, typed=typed, unavailable=True)
    if answer.status_code == 429:
        wait = answer.headers.get("retry-after", "60")
        return render(
            request,
            "check.html",
            http_status=429,
            user=None,
            typed=typed,
            wait=int(wait) if wait.isdigit() else 60,
        )
    if answer.status_code != 200:
        return render(request, "check.html", http_status=502, user=None, typed=typed, unavailable=True)
    # The form is emptied under the answer: the next person at a shared computer sees no NIK.
    return render(request, "check.html", user=None, typed={"nik": "", "name": ""}, result=answer.json())
