"""ensure_topics returns only once the topics it made are in the brokers' metadata.

A consumer joining its group before a just-created topic shows in the metadata is assigned none of
it until aiokafka's next metadata refresh; a CI run waited three minutes for a proposal that way.
On a quiet broker the metadata usually shows the topics in time anyway, so the first test states the
guarantee rather than provoking the race; the second shows the wait is bounded."""

import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from dtks_runtime import topics
from dtks_runtime.testing import new_id
from dtks_runtime.topics import ensure_topics, scratch_topic

pytestmark = pytest.mark.infra


async def _leaders(bootstrap: str, names: list[str]) -> dict[str, int]:
    """Per topic, how many partitions a fresh client's metadata gives a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {
        t["topic"]: sum(p["leader"] >= 0 for p in t["partitions"]) if t["error_code"] == 0 else 0
        for t in described
    }


async def test_topics_just_made_already_have_every_partition_led(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    names = [f"{topic_prefix}visible.{new_id()}.{i}" for i in range(12)]
    created = await ensure_topics(kafka_bootstrap, [scratch_topic(n, partitions=6) for n in names])
    assert sorted(created) == sorted(names)
    assert await _leaders(kafka_bootstrap, names) == dict.fromkeys(names, 6)


async def test_a_topic_that_never_shows_is_waited_for_within_the_bound_only(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topics, "_VISIBLE_WITHIN_SECONDS", 0.5)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        # Never created (auto-creation is off): the wait gives up after the bound instead of hanging.
        began = time.monotonic()
        await topics._until_visible(admin, {f"never.{new_id()}": 3})
        waited = time.monotonic() - began
    finally:
        await admin.close()
    assert 0.5 <= waited < 5.0
