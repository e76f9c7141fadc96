"""What an agency was granted: a region, programs (empty: all) and field groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtks_contracts.regions import contains
from dtks_dci.domain.records import FieldGrant


@dataclass(frozen=True)
class Grant:
    agency: str  # the agency's client id, which is its sender_id in the envelopes
    region: str
    programs: tuple[str, ...]
    fields: FieldGrant

    def may_read(self, household: Mapping[str, Any]) -> bool:
        """As the registry's own rule for agencies: inside the region, and of a granted program."""
        if not contains(self.region, household["village_code"]):
            return False
        return not self.programs or bool(set(self.programs) & set(household["programs"]))

    def as_json(self) -> dict[str, Any]:
        return {"agency": self.agency, "region": self.region, "programs": list(self.programs),
                "fields": sorted(self.fields.groups)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        return cls(data["agency"], data["region"], tuple(data["programs"]), FieldGrant.of(data["fields"]))
