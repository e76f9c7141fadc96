"""Re-verification rounds, the pure rules: who opens a round where, what a visit's outcome proposes,
and the corrected household a changed outcome pre-fills from the register's record.

A round (the regencies' recurring *verivali* of registered households) is opened over a region for a
period with a selection; its prelist is the round's own queue, per village. A field officer records
one outcome per household: found unchanged (nothing to propose), changed (a correction: the
register's record with the officer's changes, the visit as its field evidence), moved, not found or
no longer eligible (a deactivation, with an evidence note saying what the visit found). The proposal
is entered by the proposal service from the visit's event and runs the tiers like any other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pydantic

from dtks_contracts.events.reverification import DEACTIVATION_OF, VisitOutcome
from dtks_contracts.household import Household
from dtks_contracts.regions import NATIONAL, contains
from dtks_contracts.vocabulary import Role
from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_runtime.errors import DomainError

# Fixed forever: a visit's proposal id is derived from its round and household, so an event read
# twice, or a visit's answer lost and sent again, names the same proposal and enters it once.
PROPOSAL_NAMESPACE: Final = uuid.UUID("5d0f3c1e-9b7a-5e42-8d16-2c4b7a9e0f31")

# Who opens rounds: the Ministry anywhere, a regency's social service inside its regency.
OPENERS: Final = frozenset({Role.MINISTRY_VERIFIER, Role.REGENCY_OPERATOR})
# Who visits: the officers who record field visits today.
VISITORS: Final = frozenset({Role.DISTRICT_VERIFIER, Role.REGENCY_OPERATOR})
# Who reads a round's prelist and progress besides them.
READERS: Final = frozenset({*OPENERS, *VISITORS, Role.PROVINCE_VERIFIER, Role.AUDITOR})

# What a visit may change of the register's record; the rest is the register's (the id, the village:
# a household in another village moved, which is its own outcome) or set centrally (the decile).
CHANGEABLE: Final = (
    "kk_number",
    "address",
    "members",
    "housing",
    "assets",
    "income_band",
    "programs",
    "contact",
)
_MERGED: Final = frozenset({"address", "housing", "assets", "contact"})  # objects: the change's fields win


def proposal_id_for(round_id: str, household_id: str) -> str:
    return str(uuid.uuid5(PROPOSAL_NAMESPACE, f"{round_id}:{household_id}"))


def visit_key(round_id: str, household_id: str) -> str:
    return f"{round_id}:{household_id}"


def ensure_may_open(role: Role, principal_region: str, region: str) -> None:
    if role not in OPENERS:
        raise DomainError(
            "role_not_allowed",
            "Re-verification rounds are opened by the Ministry's verifiers or a regency's social service.",
        )
    if role is Role.REGENCY_OPERATOR and region == NATIONAL:
        raise DomainError(
            "outside_region", "A regency opens rounds for its own area; name it or a part of it."
        )
    if not contains(principal_region, region):
        raise DomainError("outside_region", f"Region {region} is outside your scope {principal_region}.")


def ensure_may_visit(role: Role, principal_region: str, village_code: str) -> None:
    if role not in VISITORS:
        raise DomainError(
            "role_not_allowed", "Round visits are recorded by district verifiers and regency operators."
        )
    if not contains(principal_region, village_code):
        raise DomainError(
            "outside_region",
            f"The household's village {village_code} is outside your scope {principal_region}.",
        )


def ensure_period(period_start: dt.date, period_end: dt.date) -> None:
    if period_end < period_start:
        raise DomainError("invalid_round_period", "The round's period ends before it starts; swap the dates.")


def ensure_visit_in_period(visit_date: dt.date, period_start: dt.date, period_end: dt.date) -> None:
    if not period_start <= visit_date <= period_end:
        raise DomainError(
            "visit_outside_period",
            f"The visit's date {visit_date} is outside the round's period {period_start} to {period_end}; "
            "check the date written on the form.",
        )


@dataclass(frozen=True)
class Proposed:
    """What a visit's outcome proposes: the proposal's id and content fields (none for unchanged)."""

    proposal_id: str | None = None
    household: Household | None = None
    deactivation_reason: DeactivationReason | None = None
    evidence_note: str | None = None


def proposed(
    outcome: VisitOutcome,
    *,
    round_id: str,
    household_id: str,
    snapshot: Mapping[str, Any] | None,
    changes: Mapping[str, Any] | None,
    visit: Mapping[str, Any],
    note: str | None,
) -> Proposed:
    """The proposal a visit's outcome becomes. Raises a DomainError the officer can act on."""
    if outcome is not VisitOutcome.CHANGED and changes:
        raise DomainError(
            "changes_not_expected",
            f"Only a household found changed carries changes; this one was found {outcome.value}.",
        )
    if outcome is VisitOutcome.UNCHANGED:
        return Proposed()
    pid = proposal_id_for(round_id, household_id)
    if outcome is VisitOutcome.CHANGED:
        if not changes:
            raise DomainError(
                "changes_required", "A household found changed needs what changed (the 'changes' object)."
            )
        if snapshot is None:
            raise DomainError(
                "household_not_registered", f"Household {household_id} is no longer in the register."
            )
        return Proposed(pid, corrected_household(snapshot, changes, visit))
    reason = DEACTIVATION_OF[outcome]
    said = note or f"found {outcome.value.replace('_', ' ')}"
    evidence = (
        f"Re-verification round {round_id}: visited on {visit['visit_date']} by {visit['officer']}: {said}."
    )
    return Proposed(pid, deactivation_reason=reason, evidence_note=evidence[:2000])


def corrected_household(
    snapshot: Mapping[str, Any], changes: Mapping[str, Any], visit: Mapping[str, Any]
) -> Household:
    """The register's record with the officer's changes over it, and the visit as its field evidence.

    Objects (address, housing, assets, contact) take the change's fields over the record's; members
    and programs, when given, are the whole new list. The welfare decile is left out (set centrally,
    and proposals carry none)."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise DomainError(
            "invalid_changes",
            f"A visit may change {', '.join(CHANGEABLE)}; not {', '.join(unknown)}.",
            errors=[
                {"field": f"changes.{name}", "message": "A visit does not change this.", "type": "forbidden"}
                for name in unknown
            ],
        )
    household = {k: v for k, v in snapshot.items() if k not in ("welfare_decile", "field_visit")}
    for name, value in changes.items():
        if name in _MERGED and isinstance(value, Mapping) and isinstance(household.get(name), Mapping):
            household[name] = {**household[name], **value}
        else:
            household[name] = value
    photos = {p["subject"]: p["location"] for p in visit.get("photos", ())}
    household["field_visit"] = {
        "visit_date": str(visit["visit_date"]),
        "officer": visit["officer"],
        "latitude": visit["latitude"],
        "longitude": visit["longitude"],
        "roof_photo_ref": photos.get("roof"),
        "floor_photo_ref": photos.get("floor"),
        "wall_photo_ref": photos.get("walls"),
        "head_photo_ref": photos.get("head"),
    }
    try:
        return Household.model_validate(household)
    except pydantic.ValidationError as exc:
        errors = [
            {
                "field": "changes." + ".".join(str(part) for part in e["loc"]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise DomainError(
            "invalid_changes", "The household with these changes is not valid; see each field.", errors=errors
        ) from None
