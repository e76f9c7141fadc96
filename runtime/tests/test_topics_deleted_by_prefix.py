"""A run's topics can be deleted by its prefix, and only its own.

The benchmarks make their topics under a prefix of their own run and, on a stack they share with
other runs, used to leave them behind: domain topics keep their records forever, some GB per run at
a million households. LocalSystem.drop_databases_and_topics now deletes them with delete_prefixed_topics."""

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from dtks_runtime.testing import new_id, wait_until
from dtks_runtime.topics import delete_prefixed_topics, ensure_topics, scratch_topic

pytestmark = pytest.mark.infra


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_only_the_topics_under_the_prefix_are_deleted(kafka_bootstrap: str, topic_prefix: str) -> None:
    run = f"{topic_prefix}run{new_id()}."
    ours = [f"{run}dtks.registry.events", f"{run}dtks.dlq.registry"]
    # Another run's prefix that begins like ours but is not ours, and a name holding ours inside it.
    theirs = [f"{run[:-1]}x.dtks.registry.events", f"{topic_prefix}other.{run}events"]
    await ensure_topics(kafka_bootstrap, [scratch_topic(n, partitions=1) for n in ours + theirs])

    deleted = await delete_prefixed_topics(kafka_bootstrap, run)

    assert deleted == sorted(ours)

    async def ours_gone() -> bool:  # the brokers learn of a deletion from the controller shortly after
        return not await _topics(kafka_bootstrap) & set(ours)

    await wait_until(ours_gone, within=30, what="the run's topics to be gone")
    assert set(theirs) <= await _topics(kafka_bootstrap)
    # Nothing left under the prefix: deleting again deletes nothing.
    assert await delete_prefixed_topics(kafka_bootstrap, run) == []


async def test_an_empty_prefix_is_refused(kafka_bootstrap: str) -> None:
    with pytest.raises(ValueError, match="every topic"):
        await delete_prefixed_topics(kafka_bootstrap, "")
