"""Text a person typed: names, addresses, notes, references. What every text field accepts.

PostgreSQL cannot store the NUL character at all (a proposal carrying one failed deep in the
database with a 500, and a bulk import holding one was retried forever). Other control characters
store, but they are invisible in every screen and printout, break CSV exports and log lines, and
bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) make a name or a reference
display differently from what it is ("Trojan Source"). None of them belongs in a name, an address
or a decree number, so the contract refuses them where text enters, naming the field; only free
text (notes) keeps the tab and line breaks people type.

Stored history is read as it was written (:data:`~dtks_contracts.historical.HISTORICAL_READ`):
an event accepted before this rule stays readable.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, StringConstraints, ValidationInfo

from dtks_contracts.historical import is_historical_read

# C0 controls, DEL and C1 controls, the bidirectional embeddings/overrides and isolates.
_CONTROLS: Final = "\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_LINE_UNSAFE: Final = re.compile(f"[{_CONTROLS}]")
# Free text keeps tab, line feed and carriage return.
_FREE_TEXT_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def unsafe_character(value: str, *, free_text: bool = False) -> str | None:
    """The first character a text field refuses, as ``U+XXXX``, or None if the text is clean."""
    found = (_FREE_TEXT_UNSAFE if free_text else _LINE_UNSAFE).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def check_text(value: str, *, free_text: bool = False) -> str:
    """Return ``value``, or raise ValueError naming the first character it may not hold."""
    bad = unsafe_character(value, free_text=free_text)
    if bad is not None:
        allowed = "; tab and line breaks are allowed" if free_text else ""
        raise ValueError(
            f"contains the control or text-direction character {bad}, which no text field may hold"
            f"{allowed}; retype the value"
        )
    return value


def storable(value: str) -> str:
    """``value`` with every refused character shown as its ``U+XXXX`` code: for text the system
    writes itself from what it was given (a rejected row's column name, a file name), which must
    still store and print."""
    return _LINE_UNSAFE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)


def _check_line(value: str, info: ValidationInfo) -> str:
    if is_historical_read(info):
        return value
    return check_text(value)


def _check_free_text(value: str, info: ValidationInfo) -> str:
    if is_historical_read(info):
        return value
    return check_text(value, free_text=True)


# The validators, to add to a type of its own (a pattern, a length) without the defaults below.
LineCheck: Final = AfterValidator(_check_line)
FreeTextCheck: Final = AfterValidator(_check_free_text)


SafeStr = Annotated[str, LineCheck]
"""Any length, untrimmed, but no control or text-direction characters: for text fields whose other
constraints (a pattern, a URL) are stated elsewhere."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), LineCheck]
"""One line of up to 200 characters, trimmed: a name, an occupation, an officer, a source."""
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), LineCheck]
"""A key or URI of a document, up to 500 characters."""
FreeText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), FreeTextCheck
]
"""A note: up to 2000 characters, tab and line breaks allowed."""
