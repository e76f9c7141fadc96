"""A service's refusal of one field, said in the operator's language.

The services refuse a field with an English sentence and, for the contracts' own checks (a NIK's
length, its birth date, a KK number's district...), a code and its parameters beside it
(dtks_runtime.problems). The forms keep each refusal as a `FieldError`: the sentence, with the code
and parameters; the page says it with the catalogue's `error:<code>` when there is one, and the
service's sentence when there is not (the console repeats none of the services' rules)."""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from typing import Any


class FieldError(str):
    """The service's sentence (what `str` gives), with the refusal's code and parameters."""

    code: str
    params: Mapping[str, str | int | float | bool]

    def __new__(cls, message: str, code: str = "", params: Mapping[str, Any] | None = None) -> FieldError:
        made = super().__new__(cls, message)
        made.code, made.params = code, dict(params or {})
        return made


def field_error(error: Mapping[str, Any], fallback: str) -> FieldError:
    """One entry of a problem document's `errors` as a form keeps it."""
    params = error.get("params")
    return FieldError(
        plain(str(error.get("message") or fallback)),
        str(error.get("type") or ""),
        params if isinstance(params, Mapping) else None,
    )


def say(message: str, t: gettext.NullTranslations) -> str:
    """The refusal in the catalogue's words if it knows its code, else as the service said it."""
    code = getattr(message, "code", "")
    if code:
        key = f"error:{code}"
        words = t.gettext(key)
        if words != key:
            params = dict(getattr(message, "params", {}))
            if isinstance(params.get("label"), str):  # "KK number": which identifier, in words too
                params["label"] = t.gettext(f"label:{params['label']}").removeprefix("label:")
            try:
                return words % params
            except (KeyError, TypeError, ValueError):
                pass  # a parameter the catalogue expects is missing: the service's sentence
    return str(message)


def plain(message: str) -> str:
    """A validator's message without pydantic's "Value error, " lead, which tells an operator nothing."""
    return message.removeprefix("Value error, ")
