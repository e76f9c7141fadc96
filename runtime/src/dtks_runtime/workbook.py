"""Excel workbooks (.xlsx), as operators keep their lists: the first sheet read as the rows of cells
a CSV reader would give, so a file's one reading of a header and its rows judges both (the proposal
service's bulk imports, verification's round results).

Row numbers stay the sheet's own (row 1 the header) because every row is given, blank ones as
empty lists, which the reading after this skips while still counting them. Cells become the text a
spreadsheet shows for them: a whole number without ``.0`` (a KK number or an RT typed as a number),
a date as YYYY-MM-DD, a truth value as true/false. The sheet is read in openpyxl's read-only mode, a
row at a time from the upload (a spooled file), never loaded whole.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from openpyxl import load_workbook

XLSX_SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive; CSV and JSON Lines never start so

NOT_A_WORKBOOK = (
    "The file cannot be read as an Excel workbook (.xlsx); save it again from the spreadsheet as "
    "Excel Workbook, or as CSV (UTF-8)."
)


class WorkbookUnreadable(ValueError):
    """The upload looks like a workbook but is not one that can be opened."""


def is_workbook(name: str, head: bytes) -> bool:
    """Whether the upload is a workbook: by its name, or by a zip archive's first bytes."""
    return name.endswith(XLSX_SUFFIXES) or head.startswith(ZIP_MAGIC)


def sheet_cells(stream: BinaryIO) -> Iterator[list[str]]:
    """The first sheet's rows as lists of cell texts, from row 1, blank rows as ``[]``.

    Opening is done before the first row is asked for, so an unreadable file raises at once."""
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise WorkbookUnreadable(NOT_A_WORKBOOK) from exc
    return _rows(book)


def _rows(book: Any) -> Iterator[list[str]]:
    try:
        sheet = book.worksheets[0]
        expected = 1
        for row in sheet.iter_rows():
            # Read-only sheets leave out rows with no cell at all: give them as blank rows, so the
            # numbers that follow stay the sheet's.
            number = next((c.row for c in row if getattr(c, "row", None)), expected)
            while expected < number:
                yield []
                expected += 1
            yield _trimmed([cell_text(c.value) for c in row])
            expected = number + 1
    finally:
        book.close()


def _trimmed(cells: list[str]) -> list[str]:
    # A sheet's rows are as wide as its widest (formatting alone widens them): trailing empty cells
    # are not cells the operator filled, and must not read as "more cells than the header names".
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def cell_text(value: Any) -> str:
    """A cell's value as the text the operator sees in the sheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        # Dates in a sheet are datetimes at midnight; a time of day is kept if one was typed.
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
