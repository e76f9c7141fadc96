"""The pipeline benchmark's input: a synthetic regency, its civil registry, and one bulk file per village.

Households are clean new-household proposals of families the civil registry knows (alive, not moved,
not yet in the register), spread evenly over every village of the regency, so that the integrity
checks pass and every tier has work in every region. Each village's operator uploads one CSV in
the layout of ``dtks_proposal.domain.bulk_file`` (``dtks_synthetic.member_rows`` plus the proposal's
id, programs and deliberation), so the benchmark knows every proposal id without asking.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dtks_contracts.household import Household
from dtks_synthetic import Population, generate_population, iter_new_household_bodies, member_rows

# People per new household wanted: households average ~3.7 people, 60% of families are not in the
# register and a few have moved or lost a member; 7 leaves a margin of about 7%.
PEOPLE_PER_HOUSEHOLD = 7


@dataclass
class VillageFile:
    village_code: str
    proposal_ids: list[str]
    rows: int
    data: bytes


@dataclass
class PipelineInput:
    population: Population
    households: int
    files: list[VillageFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def proposal_ids(self) -> list[str]:
        return [pid for f in self.files for pid in f.proposal_ids]


def _evenly(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` items spread over the whole list (every village keeps its share)."""
    if len(items) < count:
        raise ValueError(f"only {len(items)} new households in the population, asked for {count}")
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _rows_of(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    household = Household.model_validate(body["household"])
    deliberation = body["deliberation"]
    extra = {
        "proposal_id": body["proposal_id"],
        "programs": ";".join(body["programs"]),
        "deliberation_kind": deliberation["kind"],
        "deliberation_held_on": deliberation.get("held_on") or deliberation.get("date"),
        "deliberation_minutes_ref": deliberation["minutes_ref"],
    }
    for row in member_rows([household]):
        yield {**row, **extra}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = list(rows[0])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode()


def build_input(regency: str, households: int, seed: int = 1) -> PipelineInput:
    population = generate_population(regency, people=math.ceil(households * PEOPLE_PER_HOUSEHOLD), seed=seed)
    bodies = _evenly(list(iter_new_household_bodies(population, seed=seed)), households)
    by_village: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in bodies:
        by_village[body["village_code"]].append(body)
    made = PipelineInput(population, households)
    for village, items in sorted(by_village.items()):
        rows = [row for body in items for row in _rows_of(body)]
        made.files.append(VillageFile(village, [b["proposal_id"] for b in items], len(rows), _csv(rows)))
    return made


def civil_registry_batches(population: Population, size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in population.civil_registry_records():
        batch.append(record.to_json())
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
