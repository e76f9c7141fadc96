"""``dtks-topics``: create the project's domain topics (with their partitions and retention) on a broker."""

from __future__ import annotations

import asyncio

from dtks_contracts.topics import with_prefix
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.topics import ensure_topics


def main() -> None:
    s = RuntimeSettings()
    created = asyncio.run(ensure_topics(s.kafka_bootstrap, with_prefix(s.topic_prefix)))
    print(f"created {len(created)} topic(s): {', '.join(created) or 'all existed'}")


if __name__ == "__main__":
    main()
