"""The life events a load of people records tells (pure): a person now recorded dead who was not,
a person now recorded as moved to a village they were not recorded in. The civil registry's data
sharing publishes these as its records change; the simulator does the same when asked to.

Each event's id is made of what it says (the NIK, the kind, the date, the village), so loading the
same file again tells nothing new (nothing changed), and a load retried after its events went out
publishes the same ids again, which the consumers take as the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from dtks_civil_registry.domain.people import PersonRecord
from dtks_contracts.events.civil_registry import PersonDied, PersonMoved


def life_events_of(
    before: Mapping[str, PersonRecord], loaded: Iterable[PersonRecord], today: dt.date
) -> list[PersonDied | PersonMoved]:
    """``before``: the records as they were, by NIK (a NIK absent: a person new to the registry).
    A date the record leaves out is ``today``, the day the registry learnt of it."""
    events: list[PersonDied | PersonMoved] = []
    for person in {p.nik: p for p in loaded}.values():  # the last record of a NIK wins, as loading
        was = before.get(person.nik)
        if not person.alive and (was is None or was.alive):
            died_on = person.died_on or today
            events.append(
                PersonDied(
                    life_event_id=f"{person.nik}:died:{died_on.isoformat()}", nik=person.nik, died_on=died_on
                )
            )
        if (
            person.moved_to is not None
            and person.moved_to != person.village_code
            and (was is None or was.moved_to != person.moved_to)
        ):
            moved_on = person.moved_on or today
            events.append(
                PersonMoved(
                    life_event_id=f"{person.nik}:moved:{person.moved_to}:{moved_on.isoformat()}",
                    nik=person.nik,
                    from_village=person.village_code,
                    to_village=person.moved_to,
                    moved_on=moved_on,
                )
            )
    return events
