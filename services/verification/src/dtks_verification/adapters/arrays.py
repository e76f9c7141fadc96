"""Array parameters sent as one PostgreSQL array literal instead of a Python list.

asyncpg encodes a list parameter element by element, and for each element asks whether it is
itself a nested array through abstract-base-class checks (Iterable, Sized, Mapping): about 2 µs
per element in Python, and a batch of 2,000 proposals sends some 100,000 elements (NIKs, name
keys, birth dates, ids). One literal string built with `str.join` costs a tenth of that, and
PostgreSQL parses it in C. The SQL casts it: ``unnest($1::text::text[])``.

Use it only where the cast is evaluated once: as the argument of ``unnest`` in FROM, or as
``x IN (SELECT unnest($1::text::text[]))``. Never as ``x = ANY($1::text::text[])``: once the
prepared statement switches to a generic plan the cast is no longer folded to a constant, and a
sequential scan parses the whole literal again for every row (measured: seconds per query).
"""

from __future__ import annotations

from collections.abc import Iterable


def text_array(values: Iterable[str | None]) -> str:
    """A ``text[]`` literal: every element quoted (backslashes and quotes escaped), None as NULL."""
    items = list(values)
    if None not in items:
        raw = "".join(items)  # type: ignore[arg-type]  # no None, as just checked
        if '"' not in raw and "\\" not in raw:
            # The usual case (NIKs, ids, codes, name keys): nothing to escape, two joins in C.
            return '{"' + '","'.join(items) + '"}' if items else "{}"  # type: ignore[arg-type]
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items
        )
        + "}"
    )


def plain_array(values: Iterable[object]) -> str:
    """A literal of numbers, dates or UUIDs, whose text forms need no quoting (no None)."""
    return "{" + ",".join(map(str, values)) + "}"
