"""Households flattened to one row per member: what operators keep in spreadsheets for bulk files.

Columns (MEMBER_ROW_COLUMNS, in this order). Household fields are repeated on every member row;
rows of one household share `kk_number` and follow each other, head first:
  kk_number, household_id, village_code, street, rt, rw, postal_code,
  nik, name, birth_date (YYYY-MM-DD), sex, relation_to_head, marital_status, education,
  attending_school, occupation, disability, chronic_illness,
  tenure, floor_material, wall_material, roof_material, floor_area_m2, drinking_water, lighting,
  electricity_capacity_va, sanitation, cooking_fuel, income_band,
  programs (semicolon-separated, e.g. "BPNT;PKH"), phone, contact_consent.
Values are JSON scalars (text, number, true/false) or None for an empty cell; codes are the
contracts' enum values. Assets are left out: a member-row file is where they are least reliable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from dtks_contracts.household import Household

_ADDRESS: Final = ("street", "rt", "rw", "postal_code")
_MEMBER: Final = (
    "nik", "name", "birth_date", "sex", "relation_to_head", "marital_status", "education",
    "attending_school", "occupation", "disability", "chronic_illness",
)  # fmt: skip
_HOUSING: Final = (
    "tenure", "floor_material", "wall_material", "roof_material", "floor_area_m2", "drinking_water",
    "lighting", "electricity_capacity_va", "sanitation", "cooking_fuel",
)  # fmt: skip
MEMBER_ROW_COLUMNS: Final = (
    "kk_number", "household_id", "village_code", *_ADDRESS, *_MEMBER, *_HOUSING,
    "income_band", "programs", "phone", "contact_consent",
)  # fmt: skip


def member_rows(households: Iterable[Household]) -> Iterator[dict[str, Any]]:
    """One flat dict per member, keys exactly MEMBER_ROW_COLUMNS, lazily."""
    for household in households:
        h = household.model_dump(mode="json")
        housing = h["housing"] or {}
        contact = h["contact"] or {}
        shared: dict[str, Any] = {
            "kk_number": h["kk_number"],
            "household_id": h["household_id"],
            "village_code": h["village_code"],
            **{k: h["address"].get(k) for k in _ADDRESS},
        }
        after: dict[str, Any] = {
            **{k: housing.get(k) for k in _HOUSING},
            "income_band": h["income_band"],
            "programs": ";".join(h["programs"]),
            "phone": contact.get("phone"),
            "contact_consent": contact.get("consent"),
        }
        for member in h["members"]:
            yield {**shared, **{k: member.get(k) for k in _MEMBER}, **after}
