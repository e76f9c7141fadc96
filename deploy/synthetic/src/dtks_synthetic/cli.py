"""`dtks-synthetic population --regency 17.71 --people N --seed S --out DIR`

Writes JSON Lines files into DIR (the same arguments always give byte-identical files):
  civil_registry.jsonl  one CivilRegistryRecord per line (load it into the civil-registry simulator)
  register.jsonl        one registered Household (contracts model, JSON) per line
  proposals.jsonl       one {"fault": null|"<Fault>", "detail": text|null, "body": {...}} per line,
                        the body being what a client POSTs to the proposal service; new households
                        first, then corrections and deactivations of registered households
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dtks_synthetic.faults import Fault
from dtks_synthetic.population import generate_population
from dtks_synthetic.proposals import corrections, deactivations, proposals
from dtks_synthetic.register import register_households


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _write(path: Path, lines: Iterable[str]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for line in lines:
            out.write(line)
            n += 1
    return n


def _fault_count(text: str) -> tuple[Fault, int]:
    name, _, count = text.partition("=")
    try:
        return Fault(name.strip().upper()), int(count or "1")
    except ValueError:
        known = ", ".join(f.value for f in Fault)
        raise argparse.ArgumentTypeError(
            f"expected FAULT=COUNT with FAULT one of {known}; got {text!r}"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dtks-synthetic", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pop = sub.add_parser(
        "population", help="write a regency's population, register and proposals as JSON Lines"
    )
    pop.add_argument("--regency", default="17.71", help="region code (default 17.71, Kota Bengkulu)")
    pop.add_argument("--people", type=int, default=None, help="default: the regency's real population")
    pop.add_argument("--seed", type=int, default=1)
    pop.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    pop.add_argument("--register-share", type=float, default=0.4, help="poorest share already registered")
    pop.add_argument("--proposals", type=int, default=100, help="new-household proposals (faulty included)")
    pop.add_argument(
        "--fault", type=_fault_count, action="append", default=[], metavar="FAULT=COUNT",
        help="give COUNT of the proposals this fault (repeatable), e.g. NAME_MISMATCH=5",
    )  # fmt: skip
    pop.add_argument("--corrections", type=int, default=10)
    pop.add_argument("--deactivations", type=int, default=10)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    population = generate_population(args.regency, args.people, args.seed, register_share=args.register_share)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    people = _write(
        args.out / "civil_registry.jsonl", (_line(r.to_json()) for r in population.civil_registry_records())
    )
    registered = _write(
        args.out / "register.jsonl",
        (_line(h.model_dump(mode="json")) for h in register_households(population)),
    )
    faults: dict[Fault, int] = {}
    for fault, count in args.fault:
        faults[fault] = faults.get(fault, 0) + count
    generated = [
        *proposals(population, args.proposals, faults, seed=args.seed),
        *corrections(population, args.corrections, seed=args.seed),
        *deactivations(population, args.deactivations, seed=args.seed),
    ]
    written = _write(
        args.out / "proposals.jsonl",
        (_line({"fault": g.fault, "detail": g.detail, "body": g.body}) for g in generated),
    )
    print(
        f"{population.regency_code}: {people} people, {registered} registered households, "
        f"{written} proposals in {args.out} ({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
