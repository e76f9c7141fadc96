"""``dtks-audit decrees --bootstrap HOST:PORT [--public-key HEX]... [--topic-prefix P | --topic T] [--json]``
``dtks-audit proof FILE [--public-key HEX]...``

``decrees`` reads the registry's topic from offset zero, folds the register in memory, recomputes
every decree's root, checks the chain and the Ministry's signatures, and prints one line per decree:
OK, or DIFFERS with the households that differ. Exit status 1 when any decree differs. ``proof``
checks one proof file offline. Public keys are hex (the Ministry's docs and
``/.well-known/dtks-decree-keys``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from dtks_audit.fold import LogFold
from dtks_audit.log import client_config, read_topic
from dtks_audit.proof_file import verify_proof
from dtks_audit.signatures import TrustedKeys
from dtks_contracts.topics import REGISTRY_EVENTS


def peak_memory_mb() -> float:
    """This process's own peak resident memory (VmHWM). Not ``ru_maxrss``: on Linux a program
    started by fork and exec keeps the peak of the process it was forked from, so dtks-audit run
    from a benchmark holding a large log reported that benchmark's memory as its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _fold_partitions(config: dict[str, str], topic: str, index: int, count: int) -> LogFold:
    """Worker ``index`` of ``count``: every count-th partition. It looks the partitions up itself, so
    the command opens no Kafka client (and its threads) before forking."""
    fold = LogFold()
    for record in read_topic(config, topic, (index, count)):
        fold.add(record)
    return fold.for_merge()


async def audit_decrees(
    bootstrap: str, topic: str, public_keys: list[str], workers: int = 1, **security: Any
) -> dict[str, Any]:
    """The report of :func:`audit_decrees_now`, from a coroutine (the reading blocks; it runs in a
    thread, its workers started by spawn since the caller's process may hold other threads)."""
    return await asyncio.to_thread(
        audit_decrees_now, client_config(bootstrap, **security), topic, public_keys, workers, "spawn"
    )


def audit_decrees_now(
    config: dict[str, str], topic: str, public_keys: list[str], workers: int = 1, start_method: str = "spawn"
) -> dict[str, Any]:
    """``workers``: processes reading disjoint partitions at once (decoding and hashing the
    snapshots is most of the cost, so a second core nearly halves it). ``start_method`` "fork"
    only from a process with no other thread (the command itself): it saves each worker the
    imports a spawned one repeats."""
    started = time.perf_counter()
    if workers <= 1:
        fold = LogFold()
        for record in read_topic(config, topic):
            fold.add(record)
    else:
        context = multiprocessing.get_context(start_method)
        with ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
            others = [pool.submit(_fold_partitions, config, topic, i, workers) for i in range(1, workers)]
            # This process reads the first share meanwhile, rather than waiting for all of them.
            fold = _fold_partitions(config, topic, 0, workers)
            for other in others:
                fold.merge(other.result())
    trusted = TrustedKeys.of(public_keys)
    results = fold.check(trusted)
    seconds = time.perf_counter() - started
    return {
        "ok": bool(results) and all(r.ok for r in results) and not fold.undecodable,
        "topic": topic,
        "events_read": fold.events_read,
        "seconds": round(seconds, 3),
        "events_per_second": round(fold.events_read / seconds, 1) if seconds else None,
        "workers": workers,
        # This process's peak, and with workers the largest of theirs (each holds its partitions' fold).
        "peak_memory_mb": peak_memory_mb(),
        "peak_worker_memory_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "trust": trusted.notes,
        "undecodable": [
            {"topic": t, "partition": p, "offset": o, "error": e} for t, p, o, e in fold.undecodable
        ],
        "decrees": [r.as_dict() for r in results],
    }


def _lines(report: dict[str, Any]) -> list[str]:
    lines = [f"dtks-audit: {report['events_read']} events of {report['topic']} in {report['seconds']} s"]
    lines += [f"trust: {note}" for note in report["trust"]]
    for d in report["decrees"]:
        head = (
            f"{d['decree_number']}: {d['households']} households, {d['hash_kind']} {d['recorded_hash'][:16]}…"
        )
        if d["ok"]:
            lines.append(f"OK       {head}, signature {d['signature']}")
        else:
            lines.append(
                f"DIFFERS  {head}, recomputed {d['recomputed_hash'][:16]}…, signature {d['signature']}"
            )
            lines += [f"         household {x['household_id']}: {x['what']}" if x["household_id"]
                      else f"         {x['what']}" for x in d["differs"]]  # fmt: skip
    for u in report["undecodable"]:
        lines.append(f"UNREADABLE partition {u['partition']} offset {u['offset']}: {u['error']}")
    if not report["decrees"]:
        lines.append("no decree in the log")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="dtks-audit", description="Check DTKS decrees from the event log alone."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    decrees = sub.add_parser("decrees", help="recompute and check every decree from the registry's topic")
    decrees.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port")
    decrees.add_argument(
        "--topic-prefix", default="", help="prefix of the topic names (as DTKS_TOPIC_PREFIX)"
    )
    decrees.add_argument("--topic", help="read this topic instead (e.g. a copy)")
    decrees.add_argument("--workers", type=int, default=1, help="processes reading partitions at once")
    decrees.add_argument("--security-protocol", default="PLAINTEXT")
    decrees.add_argument("--sasl-mechanism", default="SCRAM-SHA-512")
    decrees.add_argument("--username")
    decrees.add_argument("--password")
    proof = sub.add_parser("proof", help="check one proof file offline")
    proof.add_argument("file")
    for p in (decrees, proof):
        p.add_argument("--public-key", action="append", default=[], help="a trusted Ministry key, hex")
        p.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    if args.command == "proof":
        with open(args.file, encoding="utf-8") as f:
            document = json.load(f)
        problems = verify_proof(document, TrustedKeys.of(args.public_key))
        if args.json:
            json.dump({"ok": not problems, "problems": problems}, sys.stdout, indent=2)
            print()
        else:
            print("OK: the proof holds" if not problems else "REFUSED:\n  " + "\n  ".join(problems))
        sys.exit(0 if not problems else 1)
    config = client_config(
        args.bootstrap, args.security_protocol, args.sasl_mechanism, args.username, args.password
    )
    topic = args.topic or REGISTRY_EVENTS.with_prefix(args.topic_prefix).name
    # This process has no other thread yet: its workers may be forked.
    report = audit_decrees_now(config, topic, args.public_key, args.workers, "fork")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print("\n".join(_lines(report)))
    sys.exit(0 if report["ok"] else 1)
