"""Life events the civil registry (Dukcapil) shares (topic dtks.civil_registry.events, keyed by
life_event_id): deaths, moves, births and changes of family card, each with its own id, so the
same event delivered twice is known as one."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field, model_validator

from dtks_contracts.events.base import EventPayload
from dtks_contracts.identifiers import EntityId, KkNumber, Nik
from dtks_contracts.regions import VillageCode


class _LifeEvent(EventPayload):
    aggregate_type: ClassVar[str] = "life_event"
    aggregate_id_field: ClassVar[str] = "life_event_id"

    life_event_id: EntityId = Field(description="The civil registry's id of the event")
    nik: Nik = Field(description="The person the event is about (the child, for a birth)")


class PersonDied(_LifeEvent):
    event_type: ClassVar[str] = "civil_registry.person_died"
    schema_version: ClassVar[int] = 1

    died_on: dt.date


class PersonMoved(_LifeEvent):
    event_type: ClassVar[str] = "civil_registry.person_moved"
    schema_version: ClassVar[int] = 1

    from_village: VillageCode
    to_village: VillageCode
    moved_on: dt.date

    @model_validator(mode="after")
    def _a_move(self) -> PersonMoved:
        if self.from_village == self.to_village:
            raise ValueError("a move goes to another village")
        return self


class ChildBorn(_LifeEvent):
    event_type: ClassVar[str] = "civil_registry.child_born"
    schema_version: ClassVar[int] = 1

    kk_number: KkNumber
    parent_niks: tuple[Nik, ...] = Field(min_length=1, max_length=2)
    born_on: dt.date


class FamilyCardChanged(_LifeEvent):
    event_type: ClassVar[str] = "civil_registry.family_card_changed"
    schema_version: ClassVar[int] = 1

    old_kk_number: KkNumber
    new_kk_number: KkNumber
    changed_on: dt.date
