"""The new-household form: what was typed, the proposal body made from it, and the service's
refusal put back beside the fields it names. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dtks_console.error_text import field_error
from dtks_contracts.vocabulary.household_attributes import (
    FloorMaterial,
    IncomeBand,
    RoofMaterial,
    WallMaterial,
)
from dtks_contracts.vocabulary.programs import Program

MEMBER_FIELDS = ("nik", "name", "birth_date", "sex", "relation_to_head")
HOUSEHOLD_FIELDS = (
    "kk_number",
    "address_street",
    "address_rt",
    "address_rw",
    "deliberation_kind",
    "deliberation_held_on",
    "deliberation_minutes_ref",
    "floor_material",
    "wall_material",
    "roof_material",
    "income_band",
)
# What the integrity standard requires besides the members (rule (e), complete attributes).
CHOICES = {
    "floor_material": FloorMaterial,
    "wall_material": WallMaterial,
    "roof_material": RoofMaterial,
    "income_band": IncomeBand,
}
FIRST_ROWS = 3  # member rows a fresh form shows; "add a member" gives one more
MAX_ROWS = 30

# The service names fields by their place in the proposal body; the form by its inputs.
_BODY_TO_FORM = {
    "household.kk_number": "kk_number",
    "household.address": "address_street",
    "household.address.street": "address_street",
    "household.address.rt": "address_rt",
    "household.address.rw": "address_rw",
    "deliberation": "deliberation_kind",
    "deliberation.kind": "deliberation_kind",
    "deliberation.held_on": "deliberation_held_on",
    "deliberation.minutes_ref": "deliberation_minutes_ref",
    "household.members": "members",
    "programs": "programs",
    "village_code": "village_code",
    "household.village_code": "village_code",
    "household.housing.floor_material": "floor_material",
    "household.housing.wall_material": "wall_material",
    "household.housing.roof_material": "roof_material",
    "household.income_band": "income_band",
}
_MEMBER = re.compile(r"^household\.members\.(\d+)\.(\w+)")


@dataclass
class HouseholdForm:
    values: dict[str, str] = field(default_factory=dict)
    members: list[dict[str, str]] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    idempotency_key: str = ""
    # The complaint this proposal is made of (linked to it once the proposal is recorded), if any.
    complaint_id: str = ""
    # Messages by form field name ("kk_number", "members-0-nik"); "" for the form as a whole.
    errors: dict[str, list[str]] = field(default_factory=dict)
    detail: str | None = None
    # The whole refusal, so the page can say a coded one (a freeze) in the reader's language.
    problem: Mapping[str, Any] | None = None

    @classmethod
    def blank(cls, idempotency_key: str) -> HouseholdForm:
        return cls(
            members=[dict.fromkeys(MEMBER_FIELDS, "") for _ in range(FIRST_ROWS)],
            idempotency_key=idempotency_key,
        )

    @classmethod
    def from_post(cls, data: Mapping[str, str], programs: list[str]) -> HouseholdForm:
        rows = min(int(data.get("member_rows", FIRST_ROWS) or FIRST_ROWS), MAX_ROWS)
        members = [{f: data.get(f"members-{i}-{f}", "").strip() for f in MEMBER_FIELDS} for i in range(rows)]
        return cls(
            values={f: data.get(f, "").strip() for f in HOUSEHOLD_FIELDS},
            members=members,
            programs=[p for p in programs if p in Program.__members__.values()],
            idempotency_key=data.get("idempotency_key", ""),
            complaint_id=data.get("complaint_id", "").strip(),
        )

    def add_row(self) -> None:
        if len(self.members) < MAX_ROWS:
            self.members.append(dict.fromkeys(MEMBER_FIELDS, ""))

    def _filled_rows(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if any(m.values())]

    def body(self, village_code: str) -> dict[str, Any]:
        """The body of POST /proposals. Empty member rows are left out; everything typed is sent as
        typed, for the service to judge (the console repeats none of its rules)."""
        v = self.values
        address: dict[str, Any] = {"street": v.get("address_street", "")}
        for part in ("rt", "rw"):
            if v.get(f"address_{part}"):
                address[part] = v[f"address_{part}"]
        members = [{f: (self.members[i][f] or None) for f in MEMBER_FIELDS} for i in self._filled_rows()]
        return {
            "kind": "new_household",
            "village_code": village_code,
            "deliberation": {
                "kind": v.get("deliberation_kind") or None,
                "held_on": v.get("deliberation_held_on") or None,
                "minutes_ref": v.get("deliberation_minutes_ref", ""),
            },
            "household": {
                "kk_number": v.get("kk_number", ""),
                "address": address,
                "members": members,
                "housing": {
                    f: v.get(f) or None for f in ("floor_material", "wall_material", "roof_material")
                },
                "income_band": v.get("income_band") or None,
            },
            "programs": self.programs,
        }

    def refused(self, problem: Mapping[str, Any]) -> None:
        """Put a problem document's detail and each of its errors beside the field it names."""
        self.detail = str(problem.get("detail") or "")
        self.problem = problem
        rows = self._filled_rows()
        for error in problem.get("errors") or []:
            name = self.form_field(str(error.get("field", "")), rows)
            self.errors.setdefault(name, []).append(field_error(error, self.detail))

    @staticmethod
    def form_field(body_field: str, rows: list[int]) -> str:
        # "household.members[1].nik" and "household.members.1.nik" are the same field.
        path = re.sub(r"\[(\d+)\]", r".\1", body_field).removeprefix("body.")
        member = _MEMBER.match(path)
        if member:
            index, name = int(member.group(1)), member.group(2)
            row = rows[index] if index < len(rows) else index
            return f"members-{row}-{name}" if name in MEMBER_FIELDS else f"members-{row}"
        if path in _BODY_TO_FORM:
            return _BODY_TO_FORM[path]
        # A nested part of a known field (deliberation.held_on.year...) goes to that field.
        for prefix in sorted(_BODY_TO_FORM, key=len, reverse=True):
            if path.startswith(prefix + "."):
                return _BODY_TO_FORM[prefix]
        return ""
