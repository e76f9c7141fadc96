"""The village operator's other forms: a returned proposal corrected and resubmitted, a registered
household corrected, a household deactivated. Pure: what was sent (or is registered) put into a form,
and the form made back into the body the proposal service takes. No I/O.

A form shows only some of a household's fields (members' education, assets, contact... are not on
it); whatever it does not show is sent back as it was, so correcting an address never loses the rest
of the record."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dtks_console.error_text import field_error
from dtks_console.household_form import MEMBER_FIELDS, HouseholdForm
from dtks_contracts.vocabulary.proposals import DeactivationReason

# Recorded by others than the village: never proposed back (the service refuses a welfare decile).
# The programs are the form's checkboxes (sent as the proposal's programs): copying the register's
# into the household would keep a program the operator unticked, and a correction's programs are
# the household's from the decree on.
NOT_PROPOSED = ("welfare_decile", "field_visit", "programs")
DEACTIVATION_REASONS = tuple(r.value for r in DeactivationReason)
DELIBERATION_FIELDS = ("deliberation_kind", "deliberation_held_on", "deliberation_minutes_ref")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def household_form(
    household: Mapping[str, Any],
    *,
    idempotency_key: str,
    deliberation: Mapping[str, Any] | None = None,
    programs: list[str] | None = None,
) -> HouseholdForm:
    """The household form filled in with a household as the service holds it (a proposal's content or
    the register's record). The deliberation is filled in only when given: a correction of a
    registered household needs the new meeting's."""
    address = household.get("address") or {}
    housing = household.get("housing") or {}
    values = {
        "kk_number": _text(household.get("kk_number")),
        "address_street": _text(address.get("street")),
        "address_rt": _text(address.get("rt")),
        "address_rw": _text(address.get("rw")),
        "floor_material": _text(housing.get("floor_material")),
        "wall_material": _text(housing.get("wall_material")),
        "roof_material": _text(housing.get("roof_material")),
        "income_band": _text(household.get("income_band")),
    }
    if deliberation:
        values |= {
            "deliberation_kind": _text(deliberation.get("kind")),
            "deliberation_held_on": _text(deliberation.get("held_on") or deliberation.get("date")),
            "deliberation_minutes_ref": _text(deliberation.get("minutes_ref")),
        }
    members = [{f: _text(m.get(f)) for f in MEMBER_FIELDS} for m in household.get("members") or []]
    form = HouseholdForm(values=values, members=members, programs=list(programs or []))
    form.idempotency_key = idempotency_key
    if not form.members:
        form.add_row()
    return form


def merged_household(form: HouseholdForm, original: Mapping[str, Any], village_code: str) -> dict[str, Any]:
    """The household the form says, over the original: the form's fields replace the original's, a
    member row keeps the original member's fields the form does not show (by row: the form lists
    the members in the order they were sent)."""
    typed = form.body(village_code)["household"]
    household = {k: copy.deepcopy(v) for k, v in original.items() if k not in NOT_PROPOSED}
    household["kk_number"] = typed["kk_number"]
    kept_address = {
        k: v for k, v in (original.get("address") or {}).items() if k not in ("street", "rt", "rw")
    }
    household["address"] = {**kept_address, **typed["address"]}
    household["housing"] = {**(original.get("housing") or {}), **typed["housing"]}
    household["income_band"] = typed["income_band"]
    before = list(original.get("members") or [])
    filled = [i for i, m in enumerate(form.members) if any(m.values())]
    members = []
    for row, sent in zip(filled, typed["members"], strict=True):
        kept = {k: v for k, v in before[row].items() if k not in MEMBER_FIELDS} if row < len(before) else {}
        members.append({**kept, **sent})
    household["members"] = members
    household.setdefault("village_code", village_code)
    return household


def deliberation_of(values: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kind": values.get("deliberation_kind") or None,
        "held_on": values.get("deliberation_held_on") or None,
        "minutes_ref": values.get("deliberation_minutes_ref", ""),
    }


# Where the service's field names land on the deactivation form.
_DEACTIVATION_FIELDS = {
    "reason": "reason",
    "evidence_note": "evidence_note",
    "deliberation": "deliberation_kind",
    "deliberation.kind": "deliberation_kind",
    "deliberation.held_on": "deliberation_held_on",
    "deliberation.minutes_ref": "deliberation_minutes_ref",
    "household_id": "household_id",
    "village_code": "",
    "correction_note": "correction_note",
}


@dataclass
class DeactivationForm:
    """A registered household leaving the register: why, what shows it, and the meeting that agreed."""

    household_id: str
    values: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    detail: str | None = None
    # The whole refusal, so the page can say a coded one (a freeze) in the reader's language.
    problem: Mapping[str, Any] | None = None

    @classmethod
    def from_post(cls, household_id: str, data: Mapping[str, str]) -> DeactivationForm:
        names = ("reason", "evidence_note", "correction_note", *DELIBERATION_FIELDS)
        return cls(
            household_id=household_id,
            values={n: str(data.get(n, "")).strip() for n in names},
            idempotency_key=str(data.get("idempotency_key", "")),
        )

    @classmethod
    def from_content(cls, content: Mapping[str, Any], idempotency_key: str) -> DeactivationForm:
        """A returned deactivation as it was sent, to correct and resubmit."""
        deliberation = content.get("deliberation") or {}
        return cls(
            household_id=_text(content.get("target_household_id")),
            values={
                "reason": _text(content.get("deactivation_reason")),
                "evidence_note": _text(content.get("evidence_note")),
                "deliberation_kind": _text(deliberation.get("kind")),
                "deliberation_held_on": _text(deliberation.get("date") or deliberation.get("held_on")),
                "deliberation_minutes_ref": _text(deliberation.get("minutes_ref")),
            },
            idempotency_key=idempotency_key,
        )

    def body(self, village_code: str) -> dict[str, Any]:
        return {
            "kind": "deactivation",
            "village_code": village_code,
            "household_id": self.household_id,
            "reason": self.values.get("reason") or None,
            "evidence_note": self.values.get("evidence_note") or None,
            "deliberation": deliberation_of(self.values),
        }

    def refused(self, problem: Mapping[str, Any]) -> None:
        self.detail = str(problem.get("detail") or "")
        self.problem = problem
        for error in problem.get("errors") or []:
            path = str(error.get("field", "")).removeprefix("body.")
            name = _DEACTIVATION_FIELDS.get(path)
            if name is None:
                name = next((v for k, v in _DEACTIVATION_FIELDS.items() if path.startswith(k + ".")), "")
            self.errors.setdefault(name, []).append(field_error(error, self.detail))
