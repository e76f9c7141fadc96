"""A bulk file's rejected row said in the operator's language: the proposal service gives each row
a stable code with its values, the console's catalogue holds the sentence for each code
("import-reason:<code>", or "import-reason:<code>:<column>" where one column deserves its own), and a code the catalogue does not know yet is shown as the service's own
English detail, so a new refusal is never hidden."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dtks_console.error_text import plain

KEY = "import-reason:"


def row_reason(row: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    code = str(row.get("code") or "")
    detail = plain(str(row.get("reason") or ""))
    if not code:
        return detail
    # The most precise sentence first: one for this code at this column ("invalid_value:nik"),
    # then the code's own.
    for key in (f"{KEY}{code}:{row.get('field', '')}", KEY + code):
        said = gettext(key)
        if said != key:
            break
    else:
        return detail
    values = {"field": row.get("field", ""), "row": row.get("row", ""), **(row.get("params") or {})}
    try:
        return said % values
    except (KeyError, TypeError, ValueError):
        return detail
