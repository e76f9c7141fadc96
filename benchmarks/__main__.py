"""``make bench``: start a private stack (or reuse the configured one) and print every benchmark's figures.

``python -m benchmarks runtime proposal`` runs only the named ones.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

from dtks_runtime.testing import configured_infra

STACK = Path(__file__).resolve().parent.parent / "deploy" / "local" / "stack.py"
# Each module has `async def run(infra) -> list[Figure]`.
BENCHMARKS = [
    "runtime", "proposal", "verification", "registry", "notification", "dci", "pipeline", "audit",
    "governance", "complaints", "console", "reverification",
]  # fmt: skip


def main() -> None:
    chosen = sys.argv[1:] or BENCHMARKS
    with configured_infra(STACK) as infra:
        for name in chosen:
            module = importlib.import_module(f"benchmarks.{name}_bench")
            print(f"\n== {name} ==  {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
            figures = asyncio.run(module.run(infra))
            width = max(len(f.name) for f in figures)
            for f in figures:
                print(f"{f.name:<{width}}  {f.rate:>12,.1f} {f.unit:<9} {f.note}", flush=True)


if __name__ == "__main__":
    main()
