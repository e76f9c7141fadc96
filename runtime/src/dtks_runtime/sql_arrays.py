"""Large array parameters sent as one PostgreSQL array literal instead of a Python list.

asyncpg encodes a list parameter element by element, and for each element asks whether it is
itself a nested array through abstract-base-class checks (Iterable, Sized, Mapping), in Python. A
batch that sends a hundred thousand elements (NIKs, name keys, birth dates, ids) pays for that on
every statement. One literal string built with ``str.join`` costs a fraction of it, and PostgreSQL
parses it in C. The parameter is then ``text`` and the SQL casts it: ``$1::text::text[]``.

That cast must be evaluated once per statement, so the SQL for it comes only from here, in the two
forms where it is:

- :func:`unnest_literals` in FROM: ``FROM unnest($1::text::text[], $2::text::int[]) AS x(id, n)``;
- :func:`in_literal` for membership: ``WHERE nik IN (SELECT unnest($1::text::text[]))``.

Never ``x = ANY($1::text::text[])``: once a prepared statement switches to a generic plan the cast is
no longer folded to a constant, and a sequential scan parses the whole literal again for every row.
There is deliberately no helper for that form. A small list (a few ids) is better sent as a list
with ``= ANY($1::text[])``, which needs none of this. The figures are in the README.
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


def literal(param: int, element_type: str = "text") -> str:
    """Parameter ``param`` (a literal from :func:`text_array` or :func:`plain_array`) cast to an
    array of ``element_type``: only for use inside the fragments below."""
    if param < 1 or not element_type.replace(" ", "").isidentifier():
        raise ValueError(f"not a parameter and an element type: ${param}, {element_type!r}")
    return f"${param}::text::{element_type}[]"


def unnest_literals(*element_types: str, first: int = 1) -> str:
    """``unnest(...)`` of array literals passed as parameters ``$first``, ``$first+1``, ... with
    these element types, for FROM (rows to insert, update from or join)."""
    if not element_types:
        raise ValueError("unnest_literals needs at least one element type")
    return "unnest(" + ", ".join(literal(first + i, t) for i, t in enumerate(element_types)) + ")"


def in_literal(param: int, element_type: str = "text") -> str:
    """``IN (SELECT unnest(...))`` of the array literal passed as parameter ``param``: membership
    that stays index-driven under a generic plan (write ``column {in_literal(1)}``)."""
    return f"IN (SELECT unnest({literal(param, element_type)}))"
