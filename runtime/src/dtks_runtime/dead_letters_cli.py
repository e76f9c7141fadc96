"""``dtks-dead-letters list|replay --consumer NAME``: inspect and replay a consumer's dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json

from dtks_runtime.dead_letters import list_dead_letters, replay_dead_letters
from dtks_runtime.settings import RuntimeSettings


async def _run(args: argparse.Namespace) -> None:
    s = RuntimeSettings()
    letters = await list_dead_letters(s.kafka_bootstrap, args.consumer, s.topic_prefix)
    if args.command == "list":
        for d in letters:
            print(json.dumps({"partition": d.partition, "offset": d.offset, "event_id": d.event_id,
                              "reason": d.reason, "from": d.header("dlq.topic"),
                              "failed_at": d.header("dlq.failed_at")}))  # fmt: skip
        return
    chosen = [d for d in letters if args.all or d.event_id in set(args.event_id)]
    if not chosen:
        raise SystemExit("nothing to replay: name --event-id ID (repeatable) or --all")
    sent = await replay_dead_letters(s.kafka_bootstrap, args.consumer, chosen, s.topic_prefix)
    print(f"replayed {sent} dead letter(s) to consumer {args.consumer}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="List or replay a consumer's dead letters.")
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--consumer", required=True, help="the consumer group, e.g. registry-projection")
    parser.add_argument("--event-id", action="append", default=[], help="replay this event (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay every dead letter")
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
