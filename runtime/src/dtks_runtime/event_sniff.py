"""An event's type read from its record's bytes without parsing them.

A consumer that acts on a few of its topics' types (a replay of the register, the registry's
projection of verification's stream, where most events are tier decisions it does not read) passes
the others by their bytes: the sniff costs under 1 µs, parsing and validating an envelope some 25 µs.
"""

from __future__ import annotations

import re

_TYPE_KEY = b'"event_type"'
_TYPE_FIELD = re.compile(rb'"event_type"[ \t\n\r]*:[ \t\n\r]*"([a-z_.]+)"')


def sniff_event_type(value: bytes) -> str | None:
    """The envelope's ``event_type`` read from its bytes without parsing them, or None when the bytes
    alone do not prove it (then the caller parses the envelope).

    Sound because a JSON string cannot hold an unescaped quote: the bytes ``"event_type"`` occur
    only as a key or as a whole string value, unless a ``\\u`` escape spells them otherwise. So if
    they occur exactly once and nothing is \\u-escaped, that occurrence is the envelope's own key (a
    valid envelope has it at the top level) and the value read is the one a parser would read. An
    envelope without that key is invalid: a consumer reading its type dead-letters it, and one that
    passes it by as "not of my types" applies nothing either.
    """
    if value.count(_TYPE_KEY) != 1 or b"\\u" in value:
        return None
    match = _TYPE_FIELD.search(value)
    return match.group(1).decode() if match else None
