"""A day in a query string, written as the calendar date it is (YYYY-MM-DD) and nothing else.

pydantic's lax date parsing also reads a number as seconds since 1970, so ``?on=9.4e-287`` meant
1 January 1970 and was answered 200 (the API fuzz test found it). A day given any other way is
refused with the usual 422 problem."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day_only(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    if not isinstance(value, str | dt.date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day_only)]
