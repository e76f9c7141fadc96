"""``only_types``: a consumer's handler given only the event types it acts on, in their order."""

from __future__ import annotations

from collections.abc import Sequence

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.consumer import only_types


def _event(event_type: str) -> EventEnvelope:
    return EventEnvelope.model_construct(event_type=event_type)  # only the type is read here


async def test_only_the_types_asked_reach_the_handler_in_order_and_a_batch_of_none_calls_nothing() -> None:
    calls: list[list[str]] = []

    async def handler(conn: object, events: Sequence[EventEnvelope]) -> None:
        calls.append([e.event_type for e in events])

    apply = only_types(["registry.determination_manifest", "registry.determination_issued"], handler)
    batch = ["registry.household_registered", "registry.determination_issued", "registry.household_corrected",
             "registry.determination_manifest"]  # fmt: skip
    await apply(None, [_event(t) for t in batch])  # type: ignore[arg-type]
    await apply(None, [_event("registry.household_registered")])  # type: ignore[arg-type]
    assert calls == [["registry.determination_issued", "registry.determination_manifest"]]
