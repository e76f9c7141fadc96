"""Helpers for the complaints service's tests: settings, tokens, a form body, a clock to move.

Shipped in the package for the same reason as the proposal's ``testing`` (pytest's importlib mode);
nothing of the service imports it and its tokens are development tokens a production service refuses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from dtks_complaints.settings import ComplaintsSettings
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET

VILLAGE = "17.71.01.1004"
OTHER_VILLAGE = "17.71.01.1001"
DISTRICT = "17.71.01"
# NIKs registered in Kota Bengkulu's district 17.71.01 (a woman born 5 January 1990, serials 1..).
NIK = "1771014501900001"
OTHER_NIK = "1771014501900002"


def settings_for(
    kafka_bootstrap: str, server_url: str, topic_prefix: str, **overrides: Any
) -> ComplaintsSettings:
    return ComplaintsSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=server_url,
        database_name=f"complaint_{uuid.uuid4().hex[:10]}",
        topic_prefix=topic_prefix,
        **overrides,
    )


def headers(role: Role, region: str) -> dict[str, str]:
    token = TokenService(LOCAL_JWT_SECRET).issue(subject=f"{role.value}@{region}", role=role, region=region)
    return {"Authorization": f"Bearer {token}"}


def form(**changes: Any) -> dict[str, Any]:
    """A public form's body: an exclusion complaint from the first NIK of VILLAGE."""
    body = {
        "nik": NIK,
        "name": "Sari Wulandari",
        "village_code": VILLAGE,
        "phone": "081234567890",
        "kind": "exclusion",
        "description": "Our household is poor and not in the register.",
    }
    return {**body, **changes}


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at += delta


def registered(households: Any, decree_number: str = "1/HUK/2026") -> list[Any]:
    """``registry.household_registered`` envelopes of contracts households, as the registry's decree
    would announce them (for the register the life events are matched against)."""
    from dtks_contracts.envelope import EventEnvelope
    from dtks_contracts.events.registry import HouseholdRegistered

    return [
        EventEnvelope.new(
            HouseholdRegistered(
                household_id=h.household_id,
                decree_number=decree_number,
                household=h,
                proposal_id=f"P-{h.household_id}",
            ),
            aggregate_version=1,
            actor=None,
        )
        for h in households
    ]


def life_event(payload: Any) -> Any:
    """A life event as the civil registry's feed publishes it."""
    from dtks_contracts.envelope import EventEnvelope

    return EventEnvelope.new(payload, aggregate_version=1, actor=None)
