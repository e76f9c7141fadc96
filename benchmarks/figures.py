"""What a benchmark reports: a named rate with its unit and, where it has one, its ratio to a ceiling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    rate: float
    unit: str = "events/s"
    note: str = ""
