"""Agency subscriptions: which public register events an agency asked for, within what it was granted.

Agencies read the determined register only (the events the registry republishes on
``dtks.registry.public``), never work in progress, so a subscription can name only those types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dtks_contracts.regions import contains
from dtks_contracts.topics import PUBLIC_EVENT_TYPES, WEBHOOK_EVENT_TYPES

# A decree of several chunks (#21) is delivered as it is published: each chunk, then the manifest,
# each a delivery of its own, to the subscriptions to registry.determination_issued. Agencies name
# the decree, not its parts (WEBHOOK_EVENT_TYPES leaves those out): whichever form a decree takes,
# one subscription receives it, and the manifest (its count and content hash) says when it is whole.
DELIVERED_AS: dict[str, str] = {
    "registry.determination_chunk": "registry.determination_issued",
    "registry.determination_manifest": "registry.determination_issued",
}

# The decree itself concerns the whole country: it reaches every subscription that asked for its
# type, whatever its region and program filters (those select households, not decrees).
NATIONAL_EVENT_TYPES = frozenset({"registry.determination_issued"})


class FilterRefused(ValueError):
    """A subscription asks for something the agency cannot have; ``code`` is the problem code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class SubscriptionFilter:
    event_types: tuple[str, ...]
    regions: tuple[str, ...]
    programs: tuple[str, ...]


def granted_filter(
    *,
    event_types: Sequence[str],
    regions: Sequence[str],
    programs: Sequence[str],
    agency_region: str,
    agency_programs: Sequence[str],
) -> SubscriptionFilter:
    """The filter as stored: empty lists widen to everything the agency was granted, never beyond."""
    unknown = sorted(set(event_types) - WEBHOOK_EVENT_TYPES)
    if unknown:
        allowed = ", ".join(sorted(WEBHOOK_EVENT_TYPES))
        raise FilterRefused(
            "event_type_not_public",
            f"Agencies can subscribe only to determined register events ({allowed}); not {', '.join(unknown)}.",
        )
    outside = [r for r in regions if not contains(agency_region, r)]
    if outside:
        raise FilterRefused(
            "region_outside_grant",
            f"Regions {', '.join(outside)} are outside your agency's scope {agency_region}.",
        )
    if agency_programs:
        not_granted = sorted(set(programs) - set(agency_programs))
        if not_granted:
            raise FilterRefused(
                "program_not_granted",
                f"Your agency is not granted the programs {', '.join(not_granted)}; "
                f"it may subscribe to {', '.join(sorted(agency_programs))}.",
            )
    return SubscriptionFilter(
        event_types=tuple(sorted(set(event_types) or WEBHOOK_EVENT_TYPES)),
        regions=tuple(sorted(set(regions) or {agency_region})),
        programs=tuple(sorted(set(programs) or set(agency_programs))),
    )


@dataclass(frozen=True)
class PublicFacts:
    """What matching needs to know about one public event."""

    event_type: str
    village_code: str | None  # None when unknown or national
    programs: tuple[str, ...]


def matches(f: SubscriptionFilter, facts: PublicFacts) -> bool:
    event_type = DELIVERED_AS.get(facts.event_type, facts.event_type)
    if event_type not in f.event_types:
        return False
    if event_type in NATIONAL_EVENT_TYPES:
        return True
    if facts.village_code is None:
        # Where the household lives is unknown: only an agency with national scope may be sent it.
        return "ID" in f.regions
    if not any(contains(r, facts.village_code) for r in f.regions):
        return False
    return not f.programs or bool(set(f.programs) & set(facts.programs))


def matching(subscriptions: Iterable[tuple[str, SubscriptionFilter]], facts: PublicFacts) -> list[str]:
    """Ids of the subscriptions that want this event."""
    if facts.event_type not in PUBLIC_EVENT_TYPES:
        return []
    return [sid for sid, f in subscriptions if matches(f, facts)]
