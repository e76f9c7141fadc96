"""The Ministry's settings of a quarter: each regency's proposal window and quota (the proposal
service's /windows), and the statistics agency's welfare-decile file loaded into the register (the
registry's /welfare-deciles, a batch at a time, each row answered on its own)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from dtks_console.access import access_of
from dtks_console.pages import render

router = APIRouter()
REGENCY = re.compile(r"^[0-9]{2}\.[0-9]{2}$")
DECILE_BATCH = 10_000  # the registry's largest batch
DECILE_FILE_MAX = 8 * 1024 * 1024  # a national ranking is loaded as several files of this size
ROWS_SHOWN = 200  # refused rows listed on the page


# ------------------------------------------------------------------ windows and quotas


@router.get("/windows")
async def windows(request: Request, regency: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _windows_page(request, session, token, regency.strip())


@router.post("/windows")
async def set_window(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    regency = form.get("regency", "")
    body, errors = window_body(form)
    if errors:
        return await _windows_page(request, session, token, regency, typed=form, errors=errors, status=422)
    answer = await access.call(request, "proposal", "PUT", f"/windows/{regency}", token, json=body)
    if not answer.ok:
        return await _windows_page(
            request,
            session,
            token,
            regency,
            typed=form,
            refused=answer.problem(),
            status=min(answer.status, 502),
        )
    return await _windows_page(request, session, token, regency, saved=True)


def window_body(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The window as the proposal service takes it, or the fields to fix (in the catalogue's words)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"open": form.get("open") == "on"}
    start, end = form.get("start", ""), form.get("end", "")
    if start or end:
        if not (start and end):
            errors["end" if start else "start"] = "Give both the first and the last day, or neither."
        else:
            body["period"] = {"start": start, "end": end}
    quota = form.get("quota", "")
    if quota:
        if not quota.isdigit():
            errors["quota"] = "The quota is a whole number of proposals."
        else:
            body["quota"] = int(quota)
    return body, errors


async def _windows_page(
    request: Request,
    session: Any,
    token: str,
    regency: str,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    refused: dict[str, Any] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    access = access_of(request)
    window = None
    problem = None
    if regency:
        if not REGENCY.match(regency):
            problem = {"detail_key": "Write the regency's code as two pairs of digits, e.g. 17.71."}
        else:
            answer = await access.call(request, "proposal", "GET", f"/windows/{regency}", token)
            window, problem = (answer.body, None) if answer.ok else (None, answer.problem())
    if typed is None and window is not None:
        period = window.get("period") or {}
        typed = {
            "open": "on" if window.get("open") else "",
            "start": period.get("start", ""),
            "end": period.get("end", ""),
            "quota": "" if window.get("quota") is None else str(window["quota"]),
        }
    return render(
        request,
        "windows.html",
        http_status=status,
        user=access.person(session),
        csrf=session.csrf,
        regency=regency,
        window=window,
        problem=problem,
        typed=typed or {},
        errors=errors or {},
        refused=refused,
        saved=saved,
    )


# ------------------------------------------------------------------ welfare deciles


def read_deciles(content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of a decile file (CSV with the columns household_id and decile, comma or semicolon),
    and the rows that are not rows of such a file, each with its line number."""
    text = content.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    # Spreadsheets set to Indonesian write CSV with semicolons.
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if first.count(";") > first.count(",") else ",")
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "household_id" not in fields or "decile" not in fields:
        return [], [
            {"line": 1, "detail_key": "The first line must name the columns household_id and decile."}
        ]
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for raw in reader:
        line = reader.line_num  # the file's own line (blank lines are skipped, not renumbered)
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        if not row.get("household_id") or not row.get("decile", "").isdigit():
            bad.append({"line": line, "detail_key": "A row needs a household id and a decile from 1 to 10."})
            continue
        rows.append({"line": line, "household_id": row["household_id"], "decile": int(row["decile"])})
    return rows, bad


@router.get("/deciles")
async def deciles(request: Request) -> Response:
    access = access_of(request)
    session, _ = await access.signed_in(request)
    return render(request, "deciles.html", user=access.person(session), csrf=session.csrf, typed={})


@router.post("/deciles")
async def load_deciles(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    typed = {"source": str(data.get("source", "")).strip(), "as_of": str(data.get("as_of", "")).strip()}
    upload = data.get("file")
    content = await upload.read(DECILE_FILE_MAX + 1) if isinstance(upload, UploadFile) else b""
    user = access.person(session)

    def page(status: int = 200, **context: Any) -> Response:
        return render(
            request, "deciles.html", http_status=status, user=user, csrf=session.csrf, typed=typed, **context
        )

    if not content:
        return page(422, refused={"detail_key": "Choose the decile file to load."})
    if len(content) > DECILE_FILE_MAX:
        return page(413, refused={"detail_key": "The file is larger than 8 MB; split it and load each part."})
    rows, bad = read_deciles(content)
    summary = {"changed": 0, "unchanged": 0, "failed": len(bad)}
    refused_rows = list(bad)
    for start in range(0, len(rows), DECILE_BATCH):
        batch = rows[start : start + DECILE_BATCH]
        answer = await access.call(
            request,
            "registry",
            "POST",
            "/welfare-deciles",
            token,
            json={
                "source": typed["source"],
                "as_of": typed["as_of"],
                "households": [{"household_id": r["household_id"], "decile": r["decile"]} for r in batch],
            },
        )
        if not answer.ok:  # the batch as a whole (source, date): nothing of it applied
            return page(min(answer.status, 502), refused=answer.problem(), summary=summary if start else None)
        for key in ("changed", "unchanged", "failed"):
            summary[key] += int(answer.body[key])
        for result in answer.body["results"]:
            if not result["ok"]:
                row = batch[result["index"]]
                refused_rows.append(
                    {"line": row["line"], "household_id": row["household_id"], **result["problem"]}
                )
    refused_rows.sort(key=lambda r: r["line"])
    return page(
        summary=summary, refused_rows=refused_rows[:ROWS_SHOWN], more_refused=len(refused_rows) > ROWS_SHOWN
    )
