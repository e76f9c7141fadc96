"""``dtks-topics``: create the project's domain topics (with their partitions and retention) on a broker."""

from __future__ import annotations

import argparse
import asyncio

from dtks_contracts.topics import with_prefix
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.topics import ensure_topics


def main(argv: list[str] | None = None) -> None:
    # Parsed before anything touches the broker: `--help` only prints the help.
    argparse.ArgumentParser(
        prog="dtks-topics",
        description="Create the project's domain topics, with their partitions and retention, on the "
        "broker of DTKS_KAFKA_BOOTSTRAP, each name prefixed with DTKS_TOPIC_PREFIX (replication "
        "DTKS_TOPIC_REPLICATION). Topics that exist are left as they are; running it again is safe.",
    ).parse_args(argv)
    s = RuntimeSettings()
    created = asyncio.run(ensure_topics(s.kafka_bootstrap, with_prefix(s.topic_prefix)))
    print(f"created {len(created)} topic(s): {', '.join(created) or 'all existed'}")


if __name__ == "__main__":
    main()
