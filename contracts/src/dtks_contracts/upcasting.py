"""Reading old events with new code: upcasters lift a payload one schema version at a time.

When a payload's schema changes incompatibly its `schema_version` goes up by one, and a function
registered for (event type, old version) turns an old payload dict into the next version's shape.
Events in Kafka and in the event stores are never rewritten; they are lifted as they are read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class MissingUpcasterError(LookupError):
    """No registered step lifts this version of the event type to the next one."""


class FutureSchemaVersionError(ValueError):
    """The event was written by a newer producer than this reader; upgrade dtks-contracts."""


class UpcasterChainError(RuntimeError):
    """Start-up check failed: some stored version cannot reach the current one."""


_ATOMS = (str, int, float, bool, type(None))


def _copied(value: Any) -> Any:
    """A deep copy of a JSON-shaped value, several times cheaper than `copy.deepcopy` (which
    tracks every object it copied); anything that is not plain JSON is left to `copy.deepcopy`."""
    # Exact types: a dict or list subclass keeps its class through `copy.deepcopy`.
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    if isinstance(value, _ATOMS):
        return value
    return copy.deepcopy(value)


class UpcasterRegistry:
    """Upcasters by (event type, version they lift from). The package keeps one default instance;
    tests build their own so that toy upcasters never leak into the real registry."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: the function lifts `event_type` payloads from `from_version` to `from_version + 1`."""
        if from_version < 1:
            raise ValueError(f"schema versions start at 1, got from_version={from_version}")

        def decorator(step: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._steps:
                raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
            self._steps[key] = step
            return step

        return decorator

    def upcast(
        self, event_type: str, version: int, payload: Mapping[str, Any], *, current_version: int
    ) -> tuple[int, Payload]:
        """Lift `payload` from `version` to `current_version`; the caller's dict is left untouched."""
        if version > current_version:
            raise FutureSchemaVersionError(
                f"{event_type} v{version} is newer than this reader's v{current_version}; upgrade dtks-contracts"
            )
        if version < 1:
            raise ValueError(f"{event_type}: schema versions start at 1, got {version}")
        # Upcasters may edit their argument in place; copying once protects the stored envelope.
        lifted: Payload = _copied(dict(payload))
        while version < current_version:
            step = self._steps.get((event_type, version))
            if step is None:
                raise MissingUpcasterError(
                    f"no upcaster registered for {event_type} v{version} -> v{version + 1}"
                )
            lifted = step(lifted)
            version += 1
        return version, lifted

    def chain_problems(
        self, current_versions: Mapping[str, int], stored_versions: Mapping[str, Iterable[int]] | None = None
    ) -> list[str]:
        """Every way a stored version could fail to reach the current one, as readable lines.

        `stored_versions` defaults to all versions 1..current for every type: a version that was
        ever current may have been written to a topic and stays there forever.
        """
        problems: list[str] = []
        for event_type, current in sorted(current_versions.items()):
            versions = (
                range(1, current + 1)
                if stored_versions is None
                else stored_versions.get(event_type, range(1, current + 1))
            )
            for version in sorted(set(versions)):
                if version > current:
                    problems.append(f"{event_type}: stored v{version} is newer than the current v{current}")
                    continue
                missing = [v for v in range(version, current) if (event_type, v) not in self._steps]
                if missing:
                    steps = ", ".join(f"v{v}->v{v + 1}" for v in missing)
                    problems.append(
                        f"{event_type}: stored v{version} cannot reach v{current}; missing {steps}"
                    )
        for event_type, from_version in sorted(self._steps):
            known_current = current_versions.get(event_type)
            if known_current is None:
                problems.append(f"upcaster registered for unknown event type {event_type} v{from_version}")
            elif from_version >= known_current:
                # A step beyond the current version means a bump was reverted or mis-numbered.
                problems.append(
                    f"{event_type}: upcaster from v{from_version} lifts beyond the current v{known_current}"
                )
        # The same problem can be reached from several stored versions; report it once.
        return list(dict.fromkeys(problems))

    def verify_chains(
        self, current_versions: Mapping[str, int], stored_versions: Mapping[str, Iterable[int]] | None = None
    ) -> None:
        problems = self.chain_problems(current_versions, stored_versions)
        if problems:
            raise UpcasterChainError("upcaster chains are broken:\n  " + "\n  ".join(problems))


_DEFAULT = UpcasterRegistry()

# `@register("proposal.submitted", 1)` next to the payload class that moved to v2.
register = _DEFAULT.register


def current_versions() -> dict[str, int]:
    # Imported here, not at the top: the event modules import this module to register upcasters.
    from dtks_contracts.events import EVENT_TYPES

    return {event_type: cls.schema_version for event_type, cls in EVENT_TYPES.items()}


def upcast(event_type: str, version: int, payload: Mapping[str, Any]) -> tuple[int, Payload]:
    """Lift a stored payload of a known event type to its current schema version."""
    from dtks_contracts.events import payload_class

    return _DEFAULT.upcast(
        event_type, version, payload, current_version=payload_class(event_type).schema_version
    )


def upcaster_chain_problems(stored_versions: Mapping[str, Iterable[int]] | None = None) -> list[str]:
    return _DEFAULT.chain_problems(current_versions(), stored_versions)


def verify_upcaster_chains(stored_versions: Mapping[str, Iterable[int]] | None = None) -> None:
    """Start-up check for services: raise UpcasterChainError unless every stored version of every
    event type can be lifted to the current one."""
    _DEFAULT.verify_chains(current_versions(), stored_versions)
