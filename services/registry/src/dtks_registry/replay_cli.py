"""``python -m dtks_registry.replay_cli rebuild [--as-of DECREE] [--keep] | verify``

The auditor's command-line replay, with the service's settings from the environment (DTKS_*). Prints
the report as JSON; ``verify`` exits with status 1 if any decree, the live register or any row of a
table the service answers from (members, households, decree rows, audit trail, ...) differs from the
replay; the report names each differing row's table and household.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import asyncpg

from dtks_registry import audit
from dtks_registry.settings import RegistrySettings
from dtks_runtime.db import ensure_database


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    settings = RegistrySettings()
    url = await ensure_database(settings.database_url, settings.database_for("registry"))
    source = audit.ReplaySource(
        url,
        settings.kafka_bootstrap,
        settings.topic_prefix,
        settings.registry_replay_workers,
        settings.provenance_check(),
    )
    if args.command == "rebuild":
        return await audit.rebuild(source, as_of_decree=args.as_of, keep=args.keep)
    live = await asyncpg.connect(url)
    try:
        return await audit.verify(source, live)
    finally:
        await live.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Rebuild the register from the event log, or verify every decree."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rebuild = sub.add_parser(
        "rebuild", help="replay from offset zero into fresh tables; print hash and counts"
    )
    rebuild.add_argument("--as-of", metavar="DECREE", help="report the register as of this decree")
    rebuild.add_argument("--keep", action="store_true", help="keep the replay's schema for inspection")
    sub.add_parser(
        "verify", help="replay; compare every decree's hash and every live table, column by column"
    )
    args = parser.parse_args(argv)
    report = asyncio.run(_main(args))
    json.dump(report, sys.stdout, indent=2, default=str)
    print()
    if args.command == "verify" and not report["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
