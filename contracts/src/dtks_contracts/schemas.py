"""The committed JSON Schemas of the envelope and every event payload, and the gate that guards them.

`contracts/schemas/<event_type>.v<version>.json` is what partners code against and what stored
events were written under. `generate` writes the schemas of the current models; `check` compares
the committed files with the current models:

  exit 0  everything committed matches the models;
  exit 1  a breaking change: a committed schema of the same version would reject old events, an
          event type was removed, a version went down, or a bumped version lacks its upcasters;
  exit 3  nothing breaks, but the committed files are out of date: run `generate` and commit.
  (exit 2 stays argparse's usage error.)

`generate` refuses to write anything while a breaking change stands, so a schema can only change
incompatibly by bumping the payload's `schema_version` and registering an upcaster.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from dtks_contracts.envelope import ENVELOPE_SCHEMA_NAME, ENVELOPE_SCHEMA_VERSION, EventEnvelope
from dtks_contracts.events import EVENT_TYPES
from dtks_contracts.schema_compatibility import find_incompatibilities
from dtks_contracts.upcasting import upcaster_chain_problems

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_FILENAME = re.compile(r"^(?P<name>[a-z][a-z_]*(?:\.[a-z][a-z_]*)?)\.v(?P<version>[1-9][0-9]*)\.json$")

EXIT_OK: Final = 0
EXIT_BREAKING: Final = 1
EXIT_OUTDATED: Final = 3


@dataclass(frozen=True)
class SchemaDocument:
    name: str  # event type, or "envelope"
    version: int
    schema: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"{self.name}.v{self.version}.json"

    def render(self) -> str:
        return render(self.schema)


@dataclass
class CheckReport:
    breaking: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.breaking:
            return EXIT_BREAKING
        return EXIT_OUTDATED if self.outdated else EXIT_OK

    def lines(self) -> list[str]:
        return [f"BREAKING {line}" for line in self.breaking] + [f"OUTDATED {line}" for line in self.outdated]


def render(schema: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, final newline; diffs show only real changes."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_schema(model: type[BaseModel], name: str, version: int) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    # x- keys are annotations: validators ignore them, readers of a file learn what it describes.
    return {"$schema": JSON_SCHEMA_DIALECT, "x-schema-name": name, "x-schema-version": version, **schema}


def current_documents() -> list[SchemaDocument]:
    documents = [
        SchemaDocument(
            ENVELOPE_SCHEMA_NAME,
            ENVELOPE_SCHEMA_VERSION,
            build_schema(EventEnvelope, ENVELOPE_SCHEMA_NAME, ENVELOPE_SCHEMA_VERSION),
        )
    ]
    for event_type, cls in sorted(EVENT_TYPES.items()):
        documents.append(
            SchemaDocument(event_type, cls.schema_version, build_schema(cls, event_type, cls.schema_version))
        )
    return documents


def _committed(directory: Path, report: CheckReport) -> dict[str, dict[int, tuple[str, dict[str, Any]]]]:
    """name -> version -> (file text, parsed schema) of every schema file in `directory`."""
    committed: dict[str, dict[int, tuple[str, dict[str, Any]]]] = {}
    if not directory.is_dir():
        return committed
    for path in sorted(directory.iterdir()):
        if path.suffix != ".json":
            continue
        match = _FILENAME.fullmatch(path.name)
        if match is None:
            report.breaking.append(f"{path.name}: not named <event_type>.v<version>.json")
            continue
        text = path.read_text(encoding="utf-8")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as error:
            report.breaking.append(f"{path.name}: not valid JSON ({error})")
            continue
        committed.setdefault(match["name"], {})[int(match["version"])] = (text, schema)
    return committed


def check(directory: Path) -> CheckReport:
    """Compare the committed schema files in `directory` with the current models."""
    report = CheckReport()
    committed = _committed(directory, report)
    current = {document.name: document for document in current_documents()}

    for name in sorted(set(committed) - set(current)):
        report.breaking.append(
            f"{name}: committed schemas but no model; stored events of a removed type become unreadable"
        )

    for name, document in current.items():
        versions = committed.get(name, {})
        for version in sorted(v for v in versions if v > document.version):
            report.breaking.append(
                f"{name}: committed v{version} is newer than the model's v{document.version}"
            )
        if name == ENVELOPE_SCHEMA_NAME:
            for version in sorted(v for v in versions if v < document.version):
                report.breaking.append(f"envelope: v{version} is committed but envelopes have no upcasters")
        if document.version in versions:
            text, old_schema = versions[document.version]
            problems = find_incompatibilities(old_schema, document.schema)
            report.breaking.extend(
                f"{document.filename} {problem} (bump schema_version and register an upcaster)"
                for problem in problems
            )
            if not problems and text != document.render():
                report.outdated.append(
                    f"{document.filename}: differs compatibly from the model; run generate"
                )
        else:
            report.outdated.append(f"{document.filename}: not generated yet; run generate")

    stored_versions = {
        name: set(versions) | {current[name].version}
        for name, versions in committed.items()
        if name in current and name != ENVELOPE_SCHEMA_NAME
    }
    report.breaking.extend(upcaster_chain_problems(stored_versions))
    return report


def generate(directory: Path) -> tuple[CheckReport, list[Path]]:
    """Write the current schemas, unless a breaking change stands; return what was written."""
    report = check(directory)
    if report.breaking:
        return report, []
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for document in current_documents():
        path = directory / document.filename
        text = document.render()
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return report, written


def default_schema_dir() -> Path:
    """contracts/schemas of the source checkout this module runs from."""
    contracts_root = Path(__file__).resolve().parents[2]
    if not (contracts_root / "pyproject.toml").is_file():
        raise FileNotFoundError("not running from a source checkout of dtks-contracts; pass --dir")
    return contracts_root / "schemas"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dtks-schemas",
        description="Generate or check the committed JSON Schemas of the DTKS event contracts.",
        epilog="check exits 0 when all matches, 1 on a breaking change, 3 when files are only out of date.",
    )
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument(
        "--dir", type=Path, default=None, help="schema directory (default: contracts/schemas)"
    )
    args = parser.parse_args(argv)
    try:
        directory: Path = args.dir or default_schema_dir()
    except FileNotFoundError as error:
        parser.error(str(error))

    if args.command == "check":
        report = check(directory)
        for line in report.lines():
            print(line, file=sys.stderr)
        if report.exit_code == EXIT_OK:
            print(f"schemas in {directory} match the models")
        return report.exit_code

    report, written = generate(directory)
    if report.breaking:
        for line in report.breaking:
            print(f"BREAKING {line}", file=sys.stderr)
        print("nothing written: resolve the breaking changes first", file=sys.stderr)
        return EXIT_BREAKING
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"schemas in {directory} already match the models")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
