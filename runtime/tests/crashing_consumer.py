"""A consumer process that dies (exit 137, like SIGKILL) right after its effect commits, before its offsets.

Run by test_outbox_and_consumers.py; not a test module itself.
"""

import asyncio
import os
import sys

import asyncpg

from dtks_runtime.consumer import EventConsumer
from dtks_runtime.testing import record_effect


class DiesBeforeOffsetCommit(EventConsumer):
    async def _commit_offsets(self, consumer, offsets) -> None:  # type: ignore[no-untyped-def]
        os._exit(137)


async def main(database_url: str, bootstrap: str, topic: str, group: str, prefix: str) -> None:
    pool = await asyncpg.create_pool(database_url)
    consumer = DiesBeforeOffsetCommit(
        name=group,
        topics=[topic],
        handler=record_effect,
        pool=pool,
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
    )
    await asyncio.wait_for(consumer.run(asyncio.Event()), 90)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
