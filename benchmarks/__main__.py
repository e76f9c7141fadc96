"""``make bench``: start a private stack (or reuse the configured one) and print every benchmark's figures."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from dtks_runtime.testing import configured_infra

from benchmarks import runtime_bench

STACK = Path(__file__).resolve().parent.parent / "deploy" / "local" / "stack.py"


def main() -> None:
    with configured_infra(STACK) as infra:
        print(f"runtime benchmark: {runtime_bench.EVENTS} events (DTKS_BENCH_EVENTS to change)", flush=True)
        figures = asyncio.run(runtime_bench.run(infra))
    width = max(len(f.name) for f in figures)
    print()
    for f in figures:
        print(f"{f.name:<{width}}  {f.rate:>12,.0f} {f.unit:<9} {f.note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
