"""Domain errors: what a rule refused, as a stable code and a sentence to act on, with no HTTP in it.

The domain and the handlers raise :class:`DomainError` (or a service's subclass of it); only the edge
knows HTTP. Each service hands ``create_app`` one table, ``{code: status}``, and the runtime's
problem handler turns the error into an RFC 9457 document with that status (422 when the code is
not in the table: the request was understood and refused by a rule). The same code is what the
console, the tests and the partner agencies key on, so it never changes once published.

    class WindowClosed(DomainError): ...
    raise DomainError("proposal_window_closed", "The window of regency 1771 is closed until ...")

    ERROR_STATUSES = {"proposal_window_closed": 409, "unknown_tier": 404}
    app = create_app(runtime, ..., error_statuses=ERROR_STATUSES)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The status of a code a service's table does not name: a rule refused a well-formed request.
DEFAULT_STATUS = 422


class DomainError(Exception):
    """A refusal by a domain rule. ``errors`` lists field-level findings (``field``, ``message``);
    ``extra`` adds members to the problem document (``retry_after``, the freeze's end, and so on)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]
        self.extra: dict[str, Any] = dict(extra or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.detail!r})"


def status_of(code: str, statuses: Mapping[str, int]) -> int:
    return statuses.get(code, DEFAULT_STATUS)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'members', 0, 'nik') -> 'members[0].nik': the field as an operator sees it, in the
    ``errors`` of a problem document and in a bulk file's rejected rows."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request"
