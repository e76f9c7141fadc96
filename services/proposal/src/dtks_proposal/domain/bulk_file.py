"""Bulk files as operators keep them in spreadsheets: one row per member, grouped by KK number.

Column layout (CSV with a header row, UTF-8; an Excel workbook (.xlsx), its first sheet laid out as the
CSV; or JSON Lines, one flat object per line, same keys):

Member columns, on every row:
  ``kk_number``, ``nik``, ``name``, ``birth_date`` (YYYY-MM-DD), ``sex`` (male|female),
  ``relation_to_head`` (head, spouse, child, ...), and optionally ``marital_status``, ``education``,
  ``attending_school``, ``occupation``, ``disability``, ``chronic_illness``.
Household columns, read from the household's rows (empty cells are fine; two different values for
one household are an error on the later row):
  ``village_code``, ``address_street``, ``address_rt``, ``address_rw``, ``address_postal_code``,
  ``deliberation_kind`` (musdes|muskel), ``deliberation_held_on``, ``deliberation_minutes_ref``,
  ``kind`` (new_household, the default, or correction), ``household_id`` (corrections),
  ``proposal_id`` (optional: the client's id), ``programs`` (e.g. ``PKH;BPNT``), ``income_band``,
  ``housing_<field>`` for every housing field (``housing_floor_material``, ``housing_floor_area_m2``...),
  ``assets_<field>`` for every asset field, ``contact_phone``, ``contact_consent`` (true/false).
``village_code`` and the ``deliberation_*`` values may instead be given once as form fields of the
upload; a row's own value wins. Row numbers are line numbers of the file (a CSV's header is row 1).

A household is accepted whole or not at all: if one of its rows is wrong, every row of it is
reported, the wrong ones with their field and reason, the others as rejected with their household.
Deactivations are not imported in bulk: they carry no members; submit them one by one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from pydantic import ValidationError

from dtks_contracts.household import Assets, Housing, Member
from dtks_contracts.regions import contains
from dtks_contracts.text import unsafe_character
from dtks_proposal.domain.submission import FieldError, ProposalIn, door_errors
from dtks_runtime import workbook
from dtks_runtime.errors import field_path

REQUIRED_COLUMNS = ("kk_number", "nik", "name", "birth_date", "sex", "relation_to_head")
MEMBER_COLUMNS = tuple(Member.model_fields)
HOUSEHOLD_COLUMNS = (
    "village_code",
    "address_street",
    "address_rt",
    "address_rw",
    "address_postal_code",
    "deliberation_kind",
    "deliberation_held_on",
    "deliberation_minutes_ref",
    "kind",
    "household_id",
    "proposal_id",
    "programs",
    "income_band",
    "contact_phone",
    "contact_consent",
    *(f"housing_{name}" for name in Housing.model_fields),
    *(f"assets_{name}" for name in Assets.model_fields),
)
KNOWN_COLUMNS = frozenset(("kk_number", *MEMBER_COLUMNS, *HOUSEHOLD_COLUMNS))
_HOUSEHOLD_SET = frozenset(HOUSEHOLD_COLUMNS)
# Shorter names some spreadsheets (and dtks_synthetic.member_rows) use for household columns.
ALIASES = {
    "street": "address_street",
    "rt": "address_rt",
    "rw": "address_rw",
    "postal_code": "address_postal_code",
    "phone": "contact_phone",
    "consent": "contact_consent",
    "deliberation_date": "deliberation_held_on",
    **{name: f"housing_{name}" for name in Housing.model_fields},
}


def canonical(column: str) -> str:
    name = column.strip().lower()
    return ALIASES.get(name, name)


DEFAULTABLE = ("village_code", "deliberation_kind", "deliberation_held_on", "deliberation_minutes_ref")


class FileRefused(ValueError):
    """The file as a whole cannot be read (not CSV, a workbook or JSON Lines, required columns missing)."""


@dataclass(frozen=True)
class RowRejection:
    """A row refused, the column it names, and why: ``reason`` in English for API users, ``code``
    (one of :data:`REJECTION_CODES`, or the code of the service's refusal of the household) and its
    ``params`` so a console can say the same in the operator's own language."""

    row: int
    field: str
    reason: str
    kk_number: str | None = None
    code: str = "invalid_value"
    params: Mapping[str, Any] | None = None


# The stable codes of a row's rejection (the English reasons may be reworded; these are not).
REJECTION_CODES = frozenset(
    {
        "unknown_column",  # the row has a column the layout does not know
        "household_value_differs",  # params.other_row: a household column differs between its rows
        "column_missing",  # the field's column is missing or empty
        "invalid_value",  # the field's value is refused (params.type: the check that refused it)
        "outside_scope",  # params.village, params.scope: a village outside the uploader's region
        "household_rejected",  # params.rows: the household was refused because of other rows
        "row_unreadable",  # the row cannot be read (broken quote, too many cells, not JSON)
        "kk_number_malformed",  # the KK number is not 16 digits
        "kk_number_missing",  # the row has no KK number
        "proposal_id_repeated",  # two households of the file under one proposal id
        "proposal_id_taken",  # the file named a proposal id already submitted
        # and field_<rule> for a rule of the door (field_missing, field_forbidden, field_invalid...)
    }
)


@dataclass
class ParsedFile:
    format: str  # "csv", "xlsx" or "jsonl"
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


NOT_UTF8 = "The file is not UTF-8 text; save it as CSV (UTF-8) or JSON Lines."


class RowSource:
    """The rows of an uploaded file, read from it as they are taken: the file (a spooled upload, on
    disk past a MiB) is decoded and split row by row, so a file of hundreds of MB is never held in
    memory whole. Rows are numbered as the operator sees them; empty cells are dropped. A file
    that turns out unreadable on the way (not UTF-8 further down) raises :class:`FileRefused` from
    :meth:`take`. :meth:`close` leaves the underlying file open (its owner closes it)."""

    def __init__(self, stream: BinaryIO, filename: str | None = None) -> None:
        head = stream.read(len(workbook.ZIP_MAGIC))
        stream.seek(0)
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            self.format, self.rows = self._open((filename or "").lower(), stream, head)
        except BaseException:
            self.close()
            raise

    def _open(
        self, name: str, stream: BinaryIO, head: bytes
    ) -> tuple[str, Iterator[tuple[int, dict[str, Any]]]]:
        if workbook.is_workbook(name, head):
            # The first sheet's cells, read by the same header and row rules as a CSV's.
            try:
                return "xlsx", _table_rows(workbook.sheet_cells(stream))
            except workbook.WorkbookUnreadable as exc:
                raise FileRefused(str(exc)) from exc
        # The first line with text decides between JSON Lines and CSV (unless the name says).
        leading: list[str] = []
        try:
            for line in self._text:
                leading.append(line)
                if line.strip():
                    break
        except UnicodeDecodeError as exc:
            raise FileRefused(NOT_UTF8) from exc
        lines = itertools.chain(leading, self._text)
        first = leading[-1].lstrip() if leading else ""
        if name.endswith((".jsonl", ".ndjson", ".json")) or (
            not name.endswith(".csv") and first.startswith("{")
        ):
            return "jsonl", _jsonl_rows(lines)
        return "csv", _csv_rows(leading, lines)

    def take(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``count`` more rows (fewer only at the end of the file)."""
        try:
            return list(itertools.islice(self.rows, count))
        except UnicodeDecodeError as exc:
            raise FileRefused(NOT_UTF8) from exc

    def close(self) -> None:
        # A workbook's rows hold the opened archive until their generator is closed.
        rows = getattr(self, "rows", None)
        if rows is not None and hasattr(rows, "close"):
            rows.close()
        with contextlib.suppress(ValueError):
            self._text.detach()


def parse_file(data: bytes, filename: str | None = None) -> ParsedFile:
    """Every row of a CSV or JSON Lines file held in memory (small files, tests); uploads are read
    with :class:`RowSource`."""
    source = RowSource(io.BytesIO(data), filename)
    try:
        return ParsedFile(source.format, source.take(sys.maxsize))
    finally:
        source.close()


# What separates a CSV's cells. A spreadsheet in an Indonesian (or any decimal-comma) locale saves
# "CSV" with semicolons; some tools save tabs. The header line decides: its cells are column names,
# which hold none of these characters.
DELIMITERS = (",", ";", "\t")


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (a comma if it uses none)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_rows(leading: list[str], lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The CSV's rows, checked header first (raised at once, before any row is taken)."""
    reader = csv.reader(lines, delimiter=sniff_delimiter(leading[0] if leading else ""))
    return _table_rows(reader)


def _table_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of cells (a CSV's, or a workbook sheet's), header first, checked at once."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileRefused(f"The header row cannot be read ({exc}); the first row names the columns.") from exc
    if not header:
        raise FileRefused("The file is empty; it needs a header row and one row per member.")
    columns = [canonical(h) for h in header]
    _check_columns(columns)
    return _csv_body(reader, columns)


def _csv_body(reader: Iterator[list[str]], columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # A cell past the csv module's limit (128 KiB; no column holds more than 2000
            # characters) or a broken quote: this row is refused, the others go on.
            yield number, {"__error__": f"the row cannot be read: {exc}"}
            continue
        if not any(c.strip() for c in cells):
            continue
        row = {col: _clean(v) for col, v in zip(columns, cells, strict=False) if col}
        if len(cells) > len(columns):
            row["__error__"] = f"row has {len(cells)} cells but the header names {len(columns)} columns"
        yield number, {k: v for k, v in row.items() if v is not None}


def _jsonl_rows(lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    seen = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seen = True
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"__error__": f"not valid JSON ({exc.msg} at column {exc.colno})"}
            continue
        if not isinstance(value, dict):
            yield number, {"__error__": "each line must be one JSON object"}
            continue
        yield number, {canonical(str(k)): _clean(v) for k, v in value.items() if _clean(v) is not None}
    if not seen:
        raise FileRefused("The file is empty; it needs one JSON object per member, one per line.")


def _check_columns(columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileRefused(
            f"The header lacks the column(s) {', '.join(missing)}; every row needs "
            f"{', '.join(REQUIRED_COLUMNS)}. Cells are separated by commas, semicolons or tabs, "
            "the same in every row as in the header."
        )
    unknown = [c for c in columns if c and c not in KNOWN_COLUMNS]
    if unknown:
        raise FileRefused(
            f"Unknown column(s) {', '.join(unknown)}; see the column layout in the API description."
        )


def group_key(row: Mapping[str, Any]) -> str | None:
    """The household a row belongs to; None for a row that cannot be grouped, among them one whose
    KK number holds a character the database cannot keep (it is stored as the household's key)."""
    kk = row.get("kk_number")
    if kk is None or "__error__" in row or unsafe_character(str(kk)) is not None:
        return None
    return str(kk)


def _member(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in MEMBER_COLUMNS if k in row}


def _programs(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    parts = str(value).replace(",", ";").replace("|", ";").split(";")
    return [p.strip() for p in parts if p.strip()]


def _household_values(
    rows: list[tuple[int, dict[str, Any]]], defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, int], list[RowRejection]]:
    """One value per household column, the row each came from, and rows that contradict it."""
    values: dict[str, Any] = {}
    source: dict[str, int] = {}
    conflicts: list[RowRejection] = []
    for number, row in rows:
        # A row's own keys (a member's fifteen or so), not all forty household columns per row.
        for column in row.keys() & _HOUSEHOLD_SET:
            if column not in values:
                values[column], source[column] = row[column], number
            elif str(values[column]) != str(row[column]):
                conflicts.append(
                    RowRejection(
                        number,
                        column,
                        f"differs from row {source[column]} of the same KK; a household has one {column}",
                        code="household_value_differs",
                        params={"other_row": source[column]},
                    )
                )
    for column in DEFAULTABLE:
        if column not in values and defaults.get(column) is not None:
            values[column] = defaults[column]
            source[column] = rows[0][0]
    return values, source, conflicts


# Household columns that are a field of a part of the household: column -> (part, field).
_PARTS: dict[str, tuple[str, str]] = {
    column: (column.partition("_")[0], column.partition("_")[2])
    for column in HOUSEHOLD_COLUMNS
    if column.startswith(("address_", "housing_", "assets_", "contact_"))
}


def _body(values: Mapping[str, Any], members: list[dict[str, Any]], kk: str) -> dict[str, Any]:
    # One pass over the household's values (an import builds hundreds of thousands of these).
    parts: dict[str, dict[str, Any]] = {}
    for column, value in values.items():
        if (place := _PARTS.get(column)) is not None:
            parts.setdefault(place[0], {})[place[1]] = value
    household: dict[str, Any] = {"kk_number": kk, "members": members}
    household["address"] = parts.get("address")
    if "household_id" in values:
        household["household_id"] = values["household_id"]
    for name in ("housing", "assets"):
        if part := parts.get(name):
            household[name] = part
    if "income_band" in values:
        household["income_band"] = values["income_band"]
    if contact := parts.get("contact"):
        household["contact"] = contact
    body: dict[str, Any] = {
        "kind": values.get("kind", "new_household"),
        "village_code": values.get("village_code"),
        "deliberation": {
            "kind": values.get("deliberation_kind"),
            "held_on": values.get("deliberation_held_on"),
            "minutes_ref": values.get("deliberation_minutes_ref"),
        },
        "household": household,
        "programs": _programs(values.get("programs", [])),
    }
    for key in ("household_id", "proposal_id"):
        if key in values:
            body[key] = values[key]
    return body


# Where a field of the proposal body comes from in the file, for household-level errors.
_BODY_TO_COLUMN = {
    "village_code": "village_code",
    "household.village_code": "village_code",
    "deliberation.kind": "deliberation_kind",
    "deliberation.held_on": "deliberation_held_on",
    "deliberation.minutes_ref": "deliberation_minutes_ref",
    "deliberation": "deliberation_kind",
    "kind": "kind",
    "household_id": "household_id",
    "household.household_id": "household_id",
    "proposal_id": "proposal_id",
    "programs": "programs",
    "household.kk_number": "kk_number",
    "household.address": "address_street",
    "household.income_band": "income_band",
}


def _locate(path: str, rows: list[tuple[int, dict[str, Any]]], source: Mapping[str, int]) -> tuple[int, str]:
    """The row and column of the file a field of the proposal body came from."""
    if path.startswith("household.members["):
        index_text, _, rest = path.removeprefix("household.members[").partition("]")
        index = int(index_text)
        column = rest.lstrip(".").split(".")[0].split("[")[0] or "relation_to_head"
        return rows[min(index, len(rows) - 1)][0], column
    if path.startswith(("programs[", "programs")):
        column = "programs"
    elif path.startswith("household.address."):
        column = "address_" + path.removeprefix("household.address.")
    elif path.startswith(("household.housing.", "household.assets.", "household.contact.")):
        column = path.removeprefix("household.").replace(".", "_", 1)
    else:
        column = _BODY_TO_COLUMN.get(path, path.removeprefix("household.").replace(".", "_"))
    return source.get(column, rows[0][0]), column


def build_household(
    kk: str,
    rows: list[tuple[int, dict[str, Any]]],
    defaults: Mapping[str, Any],
    scope: str,
) -> tuple[ProposalIn | None, list[RowRejection]]:
    """The proposal one household's rows make, or every row of it rejected with a reason."""
    # Rows of a checked CSV header have known columns only; JSON Lines rows may have others.
    rejections: list[RowRejection] = [
        RowRejection(
            number, key, "unknown column; see the column layout in the API description", code="unknown_column"
        )
        for number, row in rows
        if not KNOWN_COLUMNS.issuperset(row)
        for key in row
        if key not in KNOWN_COLUMNS
    ]
    values, source, conflicts = _household_values(rows, defaults)
    rejections += conflicts
    members = [_member(row) for _, row in rows]
    proposal: ProposalIn | None = None
    try:
        proposal = ProposalIn.model_validate(_body(values, members, kk))
    except ValidationError as exc:
        for error in exc.errors():
            row, column = _locate(field_path(tuple(error.get("loc", ()))), rows, source)
            rejections.append(RowRejection(row, column, _reason(error, column), **_coded(error)))
    if proposal is not None:
        if not contains(scope, proposal.village_code):
            row, _ = _locate("village_code", rows, source)
            rejections.append(
                RowRejection(
                    row,
                    "village_code",
                    f"village {proposal.village_code} is outside your scope {scope}",
                    code="outside_scope",
                    params={"village": proposal.village_code, "scope": scope},
                )
            )
        door: list[FieldError] = door_errors(proposal)
        for problem in door:
            row, column = _locate(problem.field, rows, source)
            rejections.append(RowRejection(row, column, problem.message, code=f"field_{problem.code}"))
    if not rejections:
        return proposal, []
    return None, _whole_household(kk, rows, rejections)


def _reason(error: Any, column: str) -> str:
    """What to do about a field the model refused, in the file's terms: an empty or missing column
    is named as such (pydantic would say "Input should be a valid dictionary or instance of
    Address" for a household without a street)."""
    if error.get("type") == "missing" or ("input" in error and error["input"] is None):
        where = " or as a form field of the upload" if column in DEFAULTABLE else ""
        return f"the column {column} is missing or empty; give it in the file{where}"
    return str(error.get("msg", "invalid"))


def _coded(error: Any) -> dict[str, Any]:
    """The code (and the check's type) of a field the model refused, as :func:`_reason` says it."""
    if error.get("type") == "missing" or ("input" in error and error["input"] is None):
        return {"code": "column_missing"}
    return {"code": "invalid_value", "params": {"type": str(error.get("type", "invalid"))}}


def _whole_household(
    kk: str, rows: list[tuple[int, dict[str, Any]]], rejections: list[RowRejection]
) -> list[RowRejection]:
    """Every row of a rejected household: its own reasons, or a pointer to the row at fault."""
    out = [replace(r, kk_number=kk) for r in rejections]
    faulty = sorted({r.row for r in rejections})
    pointer = ", ".join(str(n) for n in faulty)
    for number, _ in rows:
        if number not in faulty:
            out.append(
                RowRejection(
                    number,
                    "kk_number",
                    f"household {kk} rejected because of row(s) {pointer}",
                    kk,
                    code="household_rejected",
                    params={"rows": pointer},
                )
            )
    return sorted(out, key=lambda r: (r.row, r.field))


def household_rejected(
    kk: str, rows: Iterable[tuple[int, dict[str, Any]]], column: str, reason: str, code: str = "invalid_value"
) -> list[RowRejection]:
    """Every row of a household refused as a whole (window closed, quota used up)."""
    return [RowRejection(number, column, reason, kk, code=code) for number, _ in rows]


def ungroupable(number: int, row: Mapping[str, Any]) -> RowRejection:
    """A row that belongs to no household: unreadable, or without a KK number."""
    if "__error__" in row:
        return RowRejection(number, "row", str(row["__error__"]), code="row_unreadable")
    if row.get("kk_number") is not None:
        return RowRejection(
            number, "kk_number", "the KK number must be 16 digits 0-9", code="kk_number_malformed"
        )
    return RowRejection(
        number, "kk_number", "every row needs the KK number of its household", code="kk_number_missing"
    )


@dataclass
class StagingPlan:
    """Rows laid out for durable staging: each with its household (None: it belongs to none and is
    rejected at once), and those rejections."""

    rows: list[tuple[int, int | None, dict[str, Any]]] = field(default_factory=list)
    households: list[tuple[int, str, int]] = field(default_factory=list)  # group_no, kk, row count
    rejections: list[RowRejection] = field(default_factory=list)


@dataclass
class StagingPlanner:
    """Lays out a file's rows for staging as they are read, a chunk at a time: what it keeps across
    chunks is one number per household, not the rows."""

    group_of: dict[str, int] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    rows_total: int = 0
    rejected_total: int = 0

    def place(self, rows: Iterable[tuple[int, dict[str, Any]]]) -> StagingPlan:
        """These rows with their households (``households`` is left to :meth:`households`)."""
        plan = StagingPlan()
        for number, row in rows:
            kk = group_key(row)
            if kk is None:
                plan.rows.append((number, None, row))
                plan.rejections.append(ungroupable(number, row))
                continue
            group_no = self.group_of.setdefault(kk, len(self.group_of) + 1)
            self.counts[group_no] = self.counts.get(group_no, 0) + 1
            plan.rows.append((number, group_no, row))
        self.rows_total += len(plan.rows)
        self.rejected_total += len(plan.rejections)
        return plan

    def households(self) -> list[tuple[int, str, int]]:
        """Every household of the rows placed so far: group number, KK number, row count."""
        return [(g, kk, self.counts[g]) for kk, g in self.group_of.items()]


def plan_staging(parsed: ParsedFile) -> StagingPlan:
    """A whole parsed file's plan at once (small files, tests)."""
    planner = StagingPlanner()
    plan = planner.place(parsed.rows)
    plan.households = planner.households()
    return plan
