"""Re-verification rounds in the browser, all through the verification service's round API: the
Ministry (or a regency's social service inside its regency) opens a round; everyone taking part
reads its progress per district and village; the opener closes it and reads the recap; the field
officer (a district verifier or the regency's operator: the roles the API lets record visits) works
a village's prelist as a queue, records each household's visit with its photo, downloads the
prelist as CSV or as the Excel workbook and uploads the results with the report per row.

The console decides nothing: a refusal is the service's, shown next to the field it names."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from dtks_console.access import access_of
from dtks_console.backend import Answer, Services
from dtks_console.error_text import field_error
from dtks_console.i18n import translations
from dtks_console.import_reasons import row_reason
from dtks_console.pages import language, render
from dtks_contracts.events.reverification import HouseholdFlag, SelectionMode, VisitOutcome
from dtks_contracts.regions import region_name
from dtks_contracts.timestamps import WIB
from dtks_contracts.vocabulary.household_attributes import IncomeBand

router = APIRouter()

OPENERS = ("ministry_verifier", "regency_operator")
VISITORS = ("district_verifier", "regency_operator")
MODES = tuple(m.value for m in SelectionMode)
FLAGS = tuple(f.value for f in HouseholdFlag)
OUTCOMES = tuple(o.value for o in VisitOutcome)
PHOTO_SUBJECTS = ("roof", "floor", "walls", "head")
INCOME_BANDS = tuple(b.value for b in IncomeBand)
QUEUE_PAGE = 20
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # the verification service's own limit for a photo
RESULTS_MAX_BYTES = 16 * 1024 * 1024  # and for a results file

# Where a refusal's code belongs on the opening form ("" is above the form).
OPEN_FIELD_OF_CODE = {"outside_region": "region", "invalid_round_period": "period_end"}
VISIT_FIELD_OF_CODE = {
    "visit_outside_period": "visit_date",
    "changes_required": "changes",
    "invalid_changes": "changes",
    "changes_not_expected": "outcome",
    "already_visited": "outcome",
    "household_not_registered": "outcome",
    "photo_hash_mismatch": "photo",
    "photo_type_not_allowed": "photo",
    "photo_too_large": "photo",
    "body_too_large": "photo",
}
# Refusals the catalogue says in the reader's language ("round-refusal:<code>"); any other code
# shows the service's own sentence.
SAID_IN_CATALOGUE = (
    "outside_region",
    "invalid_round_period",
    "visit_outside_period",
    "already_visited",
    "round_closed",
    "changes_required",
    "changes_not_expected",
    "household_not_registered",
    "household_not_on_prelist",
    "role_not_allowed",
    "photo_hash_mismatch",
    "photo_type_not_allowed",
)


# ------------------------------------------------------------------ pure: forms to bodies, refusals to fields


def _whole(typed: str) -> Any:
    """A count as a number; text that is no whole number is sent as typed so the service names it."""
    typed = typed.strip()
    return int(typed) if typed.isdigit() else typed


def round_body(form: Mapping[str, str], flags: list[str]) -> dict[str, Any]:
    """POST /reverification-rounds from the opening form: only what the chosen selection takes."""
    mode = form.get("mode", "")
    selection: dict[str, Any] = {"mode": mode}
    if mode == "sample":
        selection["sample_size"] = _whole(form.get("sample_size", ""))
        selection["seed"] = _whole(form.get("seed", "")) if form.get("seed", "").strip() else 0
    elif mode == "not_visited":
        selection["not_visited_months"] = _whole(form.get("not_visited_months", ""))
    elif mode == "flagged":
        selection["flags"] = [f for f in flags if f in FLAGS]
    body: dict[str, Any] = {
        "region": form.get("region", "").strip(),
        "period_start": form.get("period_start", "").strip(),
        "period_end": form.get("period_end", "").strip(),
        "selection": selection,
    }
    if form.get("size_limit", "").strip():
        body["size_limit"] = _whole(form["size_limit"])
    return body


def open_field(error_field: str) -> str:
    """The opening form's field a problem's error names (``body.selection.sample_size``)."""
    parts = error_field.removeprefix("body.").split(".")
    if parts[0] == "selection":
        return (
            parts[1]
            if len(parts) > 1 and parts[1] in ("sample_size", "seed", "not_visited_months", "flags")
            else "mode"
        )
    return parts[0] if parts[0] in ("region", "period_start", "period_end", "size_limit") else ""


def visit_field(error_field: str) -> str:
    """The visit form's field a problem's error names (``body.changes.address.street``)."""
    parts = error_field.removeprefix("body.").split(".")
    if parts[0] == "photos":
        return "photo"
    if parts[0] == "changes":
        name = "change_" + "_".join(parts[1:3])
        return name if name in CHANGE_FIELDS else "changes"
    return (
        parts[0] if parts[0] in ("officer", "visit_date", "latitude", "longitude", "note", "outcome") else ""
    )


def placed(
    problem: Mapping[str, Any], field_of_code: Mapping[str, str], field_of_error: Any
) -> dict[str, Any]:
    """A refusal put where the person reads it: each of its errors beside the field it names, its
    own sentence beside the field its code concerns ("" is above the form). A field's message
    ``None`` means the problem's own text (the template says it through ``problem_text``)."""
    fields: dict[str, list[str | None]] = {}
    for error in problem.get("errors") or []:
        fields.setdefault(field_of_error(str(error.get("field", ""))), []).append(field_error(error, ""))
    code = str(problem.get("code", ""))
    # The rounds-rules change refuses a round overlapping another over the same region (409).
    where = field_of_code.get(
        code, "region" if "overlap" in code and "region" in field_of_code.values() else ""
    )
    if not problem.get("errors") or where:
        fields.setdefault(where, []).insert(0, None)
    shown = dict(problem)
    if code in SAID_IN_CATALOGUE and "detail_key" not in shown:
        shown["detail_key"] = f"round-refusal:{code}"
    return {"problem": shown, "fields": fields}


CHANGE_FIELDS = (
    "change_kk_number",
    "change_address_street",
    "change_address_rt",
    "change_address_rw",
    "change_income_band",
)


def visit_body(form: Mapping[str, str], photo: Mapping[str, str] | None) -> dict[str, Any]:
    """POST /reverification-rounds/{id}/visits for one household; coordinates that are not numbers
    are sent as typed (the service names them), changes only for a changed household."""

    def number(name: str) -> Any:
        raw = form.get(name, "").strip().replace(",", ".")
        try:
            return float(raw)
        except ValueError:
            return raw or None

    body: dict[str, Any] = {
        "household_id": form.get("household_id", ""),
        "outcome": form.get("outcome", ""),
        "officer": form.get("officer", "").strip(),
        "visit_date": form.get("visit_date", "").strip(),
        "latitude": number("latitude"),
        "longitude": number("longitude"),
        "photos": [dict(photo)] if photo else [],
    }
    if form.get("note", "").strip():
        body["note"] = form["note"].strip()
    if form.get("outcome") == "changed":
        changes: dict[str, Any] = {}
        for name in CHANGE_FIELDS:
            value = form.get(name, "").strip()
            if not value:
                continue
            key = name.removeprefix("change_")
            if key.startswith("address_"):
                changes.setdefault("address", {})[key.removeprefix("address_")] = value
            else:
                changes[key] = value
        body["changes"] = changes
    return body


def photo_ref(data: bytes, subject: str) -> dict[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    return {
        "subject": subject if subject in PHOTO_SUBJECTS else "roof",
        "sha256": sha,
        "location": f"evidence/{sha}",
    }


def kept_photo(form: Mapping[str, str]) -> dict[str, str] | None:
    """The photo an earlier try of the visit form stored, named by its hash in the form."""
    sha = form.get("photo_sha256", "").strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        return None
    subject = form.get("photo_subject", "roof")
    return {
        "subject": subject if subject in PHOTO_SUBJECTS else "roof",
        "sha256": sha,
        "location": f"evidence/{sha}",
    }


def place(code: str) -> str:
    """A region's name as people know it ("Selebar"), or nothing for a code the list lacks."""
    try:
        return region_name(code)
    except ValueError:
        return ""


def shows_villages(region: str, district: str) -> bool:
    """Villages are listed for one district (chosen, or the round's or reader's own): a province's
    round lists its districts first, thousands of villages would not fit a village's link."""
    return bool(district) or len(region) >= len("17.71.01")


# ------------------------------------------------------------------ routes


def _http(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _round_path(round_id: str, tail: str = "") -> str:
    return f"/reverification-rounds/{quote(round_id, safe='')}{tail}"


@router.get("/rounds")
async def rounds(request: Request, after: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _rounds_page(request, session, token, after=after)


async def _rounds_page(
    request: Request,
    session: Any,
    token: str,
    *,
    after: str = "",
    typed: dict[str, Any] | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
    not_found: str = "",
) -> Response:
    access = access_of(request)
    user = access.person(session)
    # The rounds in the reader's area, newest first; if the list cannot be had (the service away),
    # the page still finds a round by its number.
    listed = await access.call(
        request, "verification", "GET", "/reverification-rounds", token, params={"after": after, "limit": 20}
    )
    today = dt.datetime.now(WIB).date()
    return render(
        request,
        "rounds.html",
        http_status=status,
        user=user,
        csrf=session.csrf,
        place=place,
        items=listed.body.get("items", []) if listed.ok and isinstance(listed.body, dict) else [],
        next_after=listed.body.get("next_after") if listed.ok and isinstance(listed.body, dict) else None,
        listing=listed.ok,
        may_open=user["role"] in OPENERS,
        typed=typed
        or {
            "region": "" if user["region"] == "ID" else str(user["region"] or ""),
            "period_start": today.isoformat(),
            "period_end": (today + dt.timedelta(days=60)).isoformat(),
            "mode": "sample",
            "seed": str(random.randrange(1, 10_000)),
            "flags": [],
        },
        refused=refused,
        modes=MODES,
        flags=FLAGS,
        not_found=not_found,
    )


@router.post("/rounds")
async def open_round(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    flags = [str(f) for f in data.getlist("flags")]
    answer = await access.call(
        request, "verification", "POST", "/reverification-rounds", token, json=round_body(form, flags)
    )
    if answer.ok:
        return RedirectResponse(f"/rounds/{quote(answer.body['round_id'])}?opened=1", status_code=303)
    return await _rounds_page(
        request,
        session,
        token,
        typed={**form, "flags": flags},
        refused=placed(answer.problem(), OPEN_FIELD_OF_CODE, open_field),
        status=min(answer.status, 502),
    )


@router.get("/rounds/find")
async def find_round(request: Request, round_id: str = "") -> Response:
    """A round by the number the Ministry's letter gives."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    wanted = round_id.strip()
    if wanted:
        answer = await access.call(request, "verification", "GET", _round_path(wanted), token)
        if answer.ok:
            return RedirectResponse(f"/rounds/{quote(wanted)}", status_code=303)
    return await _rounds_page(request, session, token, not_found=wanted or " ", status=404)


@router.get("/rounds/{round_id}")
async def round_page(request: Request, round_id: str, district: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _round_page(request, session, token, round_id, district=district)


async def _round_page(
    request: Request,
    session: Any,
    token: str,
    round_id: str,
    *,
    district: str = "",
    report: dict[str, Any] | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """A round's page: the round, its progress by district (or by village for one district), and
    what the reader may do with it. Over 60 lines because the page's reads (the round, its progress,
    the regions' names) and its one template call share what the reader is allowed to see."""
    access = access_of(request)
    user = access.person(session)
    found = await access.call(request, "verification", "GET", _round_path(round_id), token)
    districts = villages = None
    total: dict[str, Any] = {}
    if found.ok:
        by_district = await access.call(
            request,
            "verification",
            "GET",
            _round_path(round_id, "/progress"),
            token,
            params={"by": "district"},
        )
        if by_district.ok:
            districts, total = by_district.body.get("districts", []), by_district.body.get("total", {})
            part = str(by_district.body.get("region") or "")
            if shows_villages(part, district):
                by_village = await access.call(
                    request,
                    "verification",
                    "GET",
                    _round_path(round_id, "/progress"),
                    token,
                    params={"by": "village", "region": district or part},
                )
                villages = by_village.body.get("villages", []) if by_village.ok else []
    elif status == 200:
        status = found.status if found.status < 500 else 502
    return render(
        request,
        "round.html",
        http_status=status,
        user=user,
        csrf=session.csrf,
        round=found.body if found.ok else None,
        problem=None if found.ok else found.problem(),
        districts=districts,
        villages=villages,
        district=district,
        total=total,
        outcomes=OUTCOMES,
        place=place,
        may_close=user["role"] in OPENERS,
        may_visit=user["role"] in VISITORS,
        opened=request.query_params.get("opened") == "1",
        closed=request.query_params.get("closed") == "1",
        report=report,
        refused=refused,
        reason_of=lambda row: row_reason(row, translations(language(request)).gettext),
    )


@router.post("/rounds/{round_id}/closing")
async def close_round(request: Request, round_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    answer = await access.call(request, "verification", "POST", _round_path(round_id, "/closing"), token)
    if answer.ok:
        return RedirectResponse(f"/rounds/{quote(round_id)}?closed=1", status_code=303)
    return await _round_page(
        request,
        session,
        token,
        round_id,
        refused=placed(answer.problem(), {}, lambda _: ""),
        status=min(answer.status, 502),
    )


@router.get("/rounds/{round_id}/villages/{village_code}")
async def village_queue(
    request: Request, round_id: str, village_code: str, after: str = "", outstanding: str = ""
) -> Response:
    """A village's prelist as the officer's queue, a page at a time through the service's cursor."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    found = await access.call(request, "verification", "GET", _round_path(round_id), token)
    page = None
    if found.ok:
        page = await access.call(
            request,
            "verification",
            "GET",
            _round_path(round_id, "/prelist"),
            token,
            params={
                "village_code": village_code,
                "limit": QUEUE_PAGE,
                "after": after,
                "outstanding": "true" if outstanding else None,
            },
        )
    answer = page if page is not None else found
    return render(
        request,
        "round_village.html",
        http_status=200 if answer.ok else min(answer.status, 502),
        user=access.person(session),
        csrf=session.csrf,
        round=found.body if found.ok else None,
        village_code=village_code,
        place=place,
        entries=answer.body.get("entries", []) if answer.ok else [],
        next_after=answer.body.get("next_after") if answer.ok else None,
        after=after,
        outstanding=bool(outstanding),
        problem=None if answer.ok else answer.problem(),
        may_visit=access.person(session)["role"] in VISITORS,
        recorded=request.query_params.get("recorded", ""),
        proposal=request.query_params.get("proposal", ""),
    )


def _visit_context(query: Mapping[str, str]) -> dict[str, str]:
    """What the visit page shows of the household, carried from the queue's link (display only:
    the service checks the household against the round's prelist)."""
    return {
        k: str(query.get(k, ""))[:200]
        for k in ("household_id", "village_code", "kk_number", "head_name", "street")
    }


@router.get("/rounds/{round_id}/visit")
async def visit_form(request: Request, round_id: str) -> Response:
    access = access_of(request)
    session, _token = await access.signed_in(request)
    user = access.person(session)
    household = _visit_context(request.query_params)
    typed = {
        "officer": str(user["name"] or ""),
        "visit_date": dt.datetime.now(WIB).date().isoformat(),
        "outcome": "unchanged",
    }
    return _visit_page(request, session, round_id, household, typed)


def _visit_page(
    request: Request,
    session: Any,
    round_id: str,
    household: dict[str, str],
    typed: dict[str, str],
    *,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    access = access_of(request)
    return render(
        request,
        "round_visit.html",
        http_status=status,
        user=access.person(session),
        csrf=session.csrf,
        round_id=round_id,
        household=household,
        typed=typed,
        refused=refused,
        outcomes=OUTCOMES,
        subjects=PHOTO_SUBJECTS,
        income_bands=INCOME_BANDS,
    )


@router.post("/rounds/{round_id}/visit")
async def record_visit(request: Request, round_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form(max_part_size=PHOTO_MAX_BYTES + 1)
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    household = _visit_context(form)
    upload = data.get("photo")
    # A photo already stored by an earlier try of this form (refused for another field) is named
    # again, not chosen again: a browser cannot keep a chosen file across a page.
    photo = kept_photo(form)
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(PHOTO_MAX_BYTES + 1)
        if len(content) > PHOTO_MAX_BYTES:
            problem = {
                "code": "photo_too_large",
                "detail": "photo too large",
                "detail_key": "round-refusal:photo_too_large",
            }
            refused = placed(problem, VISIT_FIELD_OF_CODE, visit_field)
            return _visit_page(request, session, round_id, household, form, refused=refused, status=413)
        if content:
            photo = photo_ref(content, form.get("photo_subject", "roof"))
            stored = await _put_photo(request, token, photo["sha256"], content, upload.content_type)
            if not stored.ok:
                refused = placed(stored.problem(), VISIT_FIELD_OF_CODE, visit_field)
                return _visit_page(
                    request,
                    session,
                    round_id,
                    household,
                    form,
                    refused=refused,
                    status=min(stored.status, 502),
                )
    answer = await access.call(
        request, "verification", "POST", _round_path(round_id, "/visits"), token, json=visit_body(form, photo)
    )
    if answer.ok:
        query = {"recorded": form.get("household_id", ""), "proposal": answer.body.get("proposal_id") or ""}
        village = quote(household["village_code"] or "-", safe="")
        return RedirectResponse(
            f"/rounds/{quote(round_id)}/villages/{village}?{urlencode(query)}", status_code=303
        )
    refused = placed(answer.problem(), VISIT_FIELD_OF_CODE, visit_field)
    kept = {**form, "photo_sha256": photo["sha256"] if photo else ""}
    return _visit_page(
        request, session, round_id, household, kept, refused=refused, status=min(answer.status, 502)
    )


async def _put_photo(
    request: Request, token: str, sha256: str, content: bytes, content_type: str | None
) -> Answer:
    """PUT /evidence/{sha256}: the photo's bytes under their own hash, before the visit names it."""
    services = _http(request)
    answer = await services.http.put(
        f"{services.base['verification']}/evidence/{sha256}",
        content=content,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": content_type or "application/octet-stream",
        },
    )
    if answer.status_code == 401:
        raise access_of(request).needs_sign_in
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    return Answer(answer.status_code, body)


@router.get("/rounds/{round_id}/prelist.{kind}")
async def download_prelist(request: Request, round_id: str, kind: str, region: str = "") -> Response:
    """The prelist as the service writes it (CSV or the workbook), streamed through as it comes."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    if kind not in ("csv", "xlsx"):
        return Response(status_code=404)
    services = _http(request)
    outgoing = services.http.build_request(
        "GET",
        f"{services.base['verification']}{_round_path(round_id, f'/prelist.{kind}')}",
        params={"region": region} if region else None,
        headers={"Authorization": f"Bearer {token}"},
    )
    upstream = await services.http.send(outgoing, stream=True)
    if upstream.status_code != 200:
        await upstream.aread()
        await upstream.aclose()
        if upstream.status_code == 401:
            raise access.needs_sign_in
        try:
            problem = upstream.json()
        except ValueError:
            problem = {"detail": upstream.text[:300]}
        return await _round_page(
            request,
            session,
            token,
            round_id,
            refused=placed(problem, {}, lambda _: ""),
            status=min(upstream.status_code, 502),
        )
    return StreamingResponse(
        upstream.aiter_bytes(),
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": upstream.headers.get(
                "content-disposition", f'attachment; filename="prelist.{kind}"'
            ),
            "Cache-Control": "no-store",
        },
        background=BackgroundTask(upstream.aclose),
    )


@router.post("/rounds/{round_id}/results")
async def upload_results(request: Request, round_id: str) -> Response:
    """The prelist filled in, uploaded: each row recorded as its own visit, the report shown."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form(max_part_size=RESULTS_MAX_BYTES + 1)
    access.check_csrf(session, str(data.get("csrf", "")))
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = {"code": "file_missing", "detail": "no file", "detail_key": "round-refusal:file_missing"}
        return await _round_page(
            request, session, token, round_id, refused=placed(problem, {}, lambda _: ""), status=422
        )
    content = await upload.read(RESULTS_MAX_BYTES + 1)
    services = _http(request)
    answer = await services.http.post(
        f"{services.base['verification']}{_round_path(round_id, '/results')}",
        files={"file": (upload.filename, content, upload.content_type or "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    if answer.status_code == 401:
        raise access.needs_sign_in
    try:
        body = answer.json()
    except ValueError:
        body = {"detail": answer.text[:300]}
    if answer.is_success:
        return await _round_page(request, session, token, round_id, report=body)
    return await _round_page(
        request,
        session,
        token,
        round_id,
        refused=placed(body if isinstance(body, dict) else {"detail": str(body)}, {}, lambda _: ""),
        status=min(answer.status_code, 502),
    )
