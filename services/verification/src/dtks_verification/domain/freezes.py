"""Freeze periods in the verification workflow: the shared rule (dtks_runtime.freezes), refusing
with this service's `Refusal` so a list of decisions answers a frozen item in its place.

The Ministry declares a freeze (before an election, during an audit) with a reason, a period, a
scope (the country `ID`, a province or a regency) and the actions it stops. A shortened freeze
ends earlier; a lifted one ended when it was lifted. What was accepted before a freeze is kept and
waits: a freeze refuses new actions, it never undoes or moves anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dtks_contracts.events.governance import FrozenAction
from dtks_runtime.freezes import FROZEN, Freeze, frozen, holding
from dtks_verification.domain.workflow import Refusal

__all__ = ["FROZEN", "Freeze", "ensure_not_frozen", "holding"]


def ensure_not_frozen(freezes: Sequence[Freeze], action: FrozenAction, region: str, now: dt.datetime) -> None:
    found = holding(freezes, action, region, now)
    if found is not None:
        raise frozen(found, action, region, Refusal)
