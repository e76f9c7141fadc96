"""The bodies of re-verification rounds' requests: opening a round, and one household's visit (the
shape a file's row is read into too, see prelist_files)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pydantic
from pydantic import BaseModel, Field

from dtks_contracts.events.reverification import RoundSelection, VisitOutcome
from dtks_contracts.identifiers import EntityId
from dtks_contracts.regions import RegionCode
from dtks_contracts.text import FreeText
from dtks_verification import reverification
from dtks_verification.api import FieldVisitIn


class RoundIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    region: RegionCode = Field(description="ID, a province, regency, district or village")
    period_start: dt.date
    period_end: dt.date
    selection: RoundSelection
    size_limit: int | None = Field(
        default=None, ge=1, le=10_000_000, description="At most this many households"
    )


class VisitIn(FieldVisitIn):
    """One household's visit: the field visit's evidence, its outcome, and what changed."""

    household_id: EntityId
    outcome: VisitOutcome
    note: FreeText | None = None
    changes: dict[str, Any] | None = Field(
        default=None,
        description="changed: what differs from the register's record (address, members, housing, assets, "
        "income_band, programs, contact, kk_number); objects are merged, lists replaced",
    )

    def command(self) -> reverification.RecordVisit:
        visit = self.model_dump(
            mode="json", include={"officer", "visit_date", "latitude", "longitude", "photos"}
        )
        return reverification.RecordVisit(self.household_id, self.outcome, visit, self.note, self.changes)
