"""A round's prelist as the files officers carry (CSV, and the Excel workbook printed for the field),
and their results uploaded back the same way with a report per row.

The download streams: rows come from a server-side cursor a batch at a time, CSV is written out as
each batch arrives, and the workbook is written in openpyxl's write-only mode to a temporary file
(its rows never held together) that is then sent in chunks. Memory is a batch, whatever the prelist.

The upload reads the same layout: the prelist's columns, then the officer's (`outcome`, `visit_date`,
`officer`, `latitude`, `longitude`, `note`, `photo_<subject>` with a photo's SHA-256, and
`change_<field>` for a changed household: `change_address_street`, `change_income_band`,
`change_housing_roof_material`, `change_programs` as `PKH;BPNT` ...). A row without an outcome is a
household not visited yet and is passed over. Each other row is recorded as its own visit, exactly as
`POST /reverification-rounds/{id}/visits` would; the report lists each rejected row as the bulk
import does: `row` (the file's line, the header being 1), `field`, a stable `code` with its `params`
and an English `reason`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pydantic
from openpyxl import Workbook

from dtks_contracts.events.reverification import VisitOutcome
from dtks_contracts.vocabulary.programs import Program
from dtks_runtime import workbook
from dtks_runtime.auth import Principal
from dtks_runtime.errors import DomainError
from dtks_verification import reverification
from dtks_verification.adapters import prelists
from dtks_verification.deps import VerificationDeps
from dtks_verification.round_bodies import VisitIn

# The prelist's own columns, then those the officer fills in the field.
PRELIST_COLUMNS = ("household_id", "village_code", "kk_number", "head_name", "street", "rt", "rw", "members")
RESULT_COLUMNS = (
    "outcome",
    "visit_date",
    "officer",
    "latitude",
    "longitude",
    "note",
    "photo_roof",
    "photo_floor",
    "photo_walls",
    "photo_head",
    "change_address_street",
    "change_address_rt",
    "change_address_rw",
    "change_income_band",
    "change_programs",
    "change_housing_floor_material",
    "change_housing_wall_material",
    "change_housing_roof_material",
)
HEADER = (*PRELIST_COLUMNS, *RESULT_COLUMNS)
_PHOTO_SUBJECTS = {"photo_roof": "roof", "photo_floor": "floor", "photo_walls": "walls", "photo_head": "head"}
# change_<section>_<field>: the sections whose fields a file may change, one column each.
_CHANGE_SECTIONS = ("address", "housing", "assets", "contact")
_CHANGE_TOP = ("kk_number", "income_band", "programs")
# A file's rows are recorded one visit at a time; a village's prelist is some hundreds of rows.
MAX_RESULT_ROWS = 5000
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cells(entry: dict[str, Any]) -> list[Any]:
    return [entry[c] for c in PRELIST_COLUMNS] + [entry["outcome"] or ""] + [""] * (len(RESULT_COLUMNS) - 1)


async def _batches(deps: VerificationDeps, round_id: str, region: str) -> AsyncIterator[list[dict[str, Any]]]:
    async with deps.connection() as conn, conn.transaction():
        async for batch in prelists.stream_entries(conn, round_id, region):
            yield batch


async def prelist_csv(deps: VerificationDeps, round_id: str, region: str) -> AsyncIterator[bytes]:
    """The prelist as CSV (UTF-8 with a BOM, which spreadsheets need to read it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    yield ("\ufeff" + out.getvalue()).encode()
    async for batch in _batches(deps, round_id, region):
        out.seek(0)
        out.truncate()
        writer.writerows(_cells(e) for e in batch)
        yield out.getvalue().encode()


async def prelist_xlsx(deps: VerificationDeps, round_id: str, region: str) -> AsyncIterator[bytes]:
    """The prelist as an Excel workbook: one sheet, the header then one row per household."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("prelist")
    sheet.append(list(HEADER))

    def append(rows: list[list[Any]]) -> None:
        for row in rows:
            sheet.append(row)

    async for batch in _batches(deps, round_id, region):
        await asyncio.to_thread(append, [_cells(e) for e in batch])
    with tempfile.TemporaryFile() as spool:
        await asyncio.to_thread(book.save, spool)
        spool.seek(0)
        while chunk := await asyncio.to_thread(spool.read, 1 << 20):
            yield chunk


@dataclass
class ResultsReport:
    rows_total: int = 0
    rows_skipped: int = 0
    recorded: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, column: str, code: str, reason: str, kk: str | None, **params: Any) -> None:
        self.rejected_rows.append(
            {"row": row, "field": column, "code": code, "params": params, "reason": reason, "kk_number": kk}
        )

    def as_json(self, round_id: str) -> dict[str, Any]:
        return {
            "round_id": round_id,
            "rows_total": self.rows_total,
            "rows_skipped": self.rows_skipped,
            "rows_recorded": len(self.recorded),
            "rows_rejected": len({r["row"] for r in self.rejected_rows}),
            "recorded": self.recorded,
            "rejected_rows": self.rejected_rows,
        }


def _rows(upload: BinaryIO, filename: str) -> Iterator[list[str]]:
    head = upload.read(4)
    upload.seek(0)
    if workbook.is_workbook(filename.lower(), head):
        try:
            return workbook.sheet_cells(upload)
        except workbook.WorkbookUnreadable as exc:
            raise DomainError("file_unreadable", str(exc)) from exc
    try:
        text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
        return iter(list(csv.reader(text)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DomainError(
            "file_unreadable", f"The file cannot be read as CSV (UTF-8) or an Excel workbook: {exc}."
        ) from exc


class _RowError(Exception):
    def __init__(self, column: str, code: str, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.column, self.code, self.reason, self.params = column, code, reason, params


def _changes(values: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for column, value in values.items():
        if not column.startswith("change_") or value == "":
            continue
        name = column.removeprefix("change_")
        if name in _CHANGE_TOP:
            if name == "programs":
                try:
                    changes[name] = sorted({Program(p.strip()).value for p in value.split(";") if p.strip()})
                except ValueError:
                    raise _RowError(
                        column, "invalid_value", f"unknown program in {value!r}", type="enum"
                    ) from None
            else:
                changes[name] = value
            continue
        section, _, item = name.partition("_")
        changes.setdefault(section, {})[item] = value
    return changes


def _visit(values: dict[str, str]) -> reverification.RecordVisit | None:
    """A row as a visit command (None: no outcome, not visited yet). Raises _RowError."""
    if not values.get("outcome"):
        return None
    try:
        outcome = VisitOutcome(values["outcome"])
    except ValueError:
        choices = ", ".join(o.value for o in VisitOutcome)
        raise _RowError(
            "outcome", "invalid_value", f"the outcome must be one of {choices}", type="enum"
        ) from None
    photos = [
        {
            "subject": subject,
            "sha256": values[column].lower(),
            "location": f"evidence/{values[column].lower()}",
        }
        for column, subject in _PHOTO_SUBJECTS.items()
        if values.get(column)
    ]
    body = {
        "household_id": values.get("household_id", ""),
        "outcome": outcome.value,
        "officer": values.get("officer", ""),
        "visit_date": values.get("visit_date", ""),
        "latitude": values.get("latitude", ""),
        "longitude": values.get("longitude", ""),
        "photos": photos,
        "note": values.get("note") or None,
        "changes": _changes(values) or None,
    }
    try:
        return VisitIn.model_validate(body).command()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        column = (
            f"photo_{photos[int(loc[1])]['subject']}"
            if loc and loc[0] == "photos" and len(loc) > 1
            else loc[0]
        )
        missing = first["type"] == "missing" or values.get(column, "") == ""
        if missing:
            raise _RowError(
                column, "column_missing", f"{column} is required for a visited household"
            ) from None
        raise _RowError(column, "invalid_value", first["msg"], type=str(first["type"])) from None


def _column_of(error_field: str) -> str:
    """The file's column for a field a refusal names (`changes.address.street` is
    `change_address_street`)."""
    parts = error_field.split(".")
    if parts[0] == "changes" and len(parts) >= 2:
        return "change_" + "_".join(parts[1:3])
    return parts[-1]


async def record_results(
    deps: VerificationDeps,
    principal: Principal,
    round_id: str,
    upload: BinaryIO,
    filename: str,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Record a round's visit results from an uploaded CSV or workbook, one visit per row, and
    report each refused row in the bulk import's shape.

    Over 60 lines because reading the header, each row's cells and recording each visit share the
    one report the operator reads; the per-cell rules themselves live in the domain."""
    found = await reverification.round_in_scope(deps, principal, round_id)
    if not found.is_open:
        raise DomainError("round_closed", f"Round {round_id} is closed; its visits can no longer change.")
    report = ResultsReport()
    rows = _rows(upload, filename)
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise DomainError(
            "file_unreadable", "The file is empty; download the prelist and fill it in."
        ) from None
    if "household_id" not in header:
        raise DomainError(
            "file_unreadable", "The file has no household_id column; download the prelist and fill it in."
        )
    known = set(HEADER) | {f"change_{s}_" for s in _CHANGE_SECTIONS}
    unknown = [
        h
        for h in header
        if h and h not in known and not h.startswith(tuple(f"change_{s}_" for s in _CHANGE_SECTIONS))
    ]
    for number, cells in enumerate(rows, start=2):
        if not any(c.strip() for c in cells):
            continue
        report.rows_total += 1
        if report.rows_total > MAX_RESULT_ROWS:
            raise DomainError(
                "file_too_large", f"A file holds at most {MAX_RESULT_ROWS} households; split it by village."
            )
        values = {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
        kk = values.get("kk_number") or None
        for column in unknown:
            if values.get(column):
                report.reject(
                    number, column, "unknown_column", "unknown column; see the prelist's columns", kk
                )
        if any(values.get(c) for c in unknown):
            continue
        try:
            command = _visit(values)
        except _RowError as error:
            report.reject(number, error.column, error.code, error.reason, kk, **error.params)
            continue
        if command is None:
            report.rows_skipped += 1
            continue
        try:
            answer = await reverification.record_visit(deps, principal, round_id, command, correlation_id)
        except DomainError as refused:
            if refused.errors:
                for e in refused.errors:
                    report.reject(
                        number, _column_of(str(e.get("field", "row"))), refused.code, str(e["message"]), kk
                    )
            else:
                column = (
                    "household_id"
                    if refused.code in ("household_not_on_prelist", "outside_region")
                    else "row"
                )
                column = "visit_date" if refused.code == "visit_outside_period" else column
                report.reject(number, column, refused.code, refused.detail, kk, **refused.extra)
            continue
        report.recorded.append({"row": number, **answer})
    return report.as_json(round_id)
