"""Points in time: always timezone-aware, always stored in UTC.

A naive timestamp from a village laptop could be WIB, WITA or WIT (UTC+7/8/9); guessing would
misplace proposals around a decree's cut-off, so naive values are rejected rather than assumed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

# Western Indonesia Time (UTC+7, no summer time): the day the Ministry's decrees, the tiers' deadlines
# and a village officer's "today" are counted in, whatever the server's own zone.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
