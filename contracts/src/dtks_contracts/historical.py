"""Reading history as it was written.

Identifiers and region codes are checked against the region list shipped with this package when
data *enters* the system. Events are immutable and live forever, while the Ministry of Home Affairs
re-codes regions from time to time (Papua's regencies moved from `91.xx` to `93.xx`-`95.xx` in 2022).
Re-checking stored events against a newer list would make the register's own history unreadable,
so readers of stored events pass `HISTORICAL_READ` as pydantic validation context: formats are still
checked, existence in the current list is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from pydantic import ValidationInfo

_KEY: Final = "dtks_contracts.historical_read"

# Pass as `context=` to `model_validate` / `model_validate_json` when reading stored events.
# Read-only so that no caller can switch the flag off for everyone else.
HISTORICAL_READ: Final[Mapping[str, Any]] = MappingProxyType({_KEY: True})


def is_historical_read(info: ValidationInfo | None) -> bool:
    """True when the caller validates stored history rather than new input."""
    if info is None or not isinstance(info.context, Mapping):
        return False
    return bool(info.context.get(_KEY, False))
