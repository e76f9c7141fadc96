"""The committed schema files and the generate/check gate."""

import json
import shutil
from pathlib import Path

import pytest

from dtks_contracts import schemas
from dtks_contracts.events import EVENT_TYPES, ProposalWithdrawn
from dtks_contracts.schemas import EXIT_BREAKING, EXIT_OK, EXIT_OUTDATED, check, current_documents, generate

COMMITTED = Path(__file__).resolve().parents[1] / "schemas"


@pytest.fixture
def scratch(tmp_path) -> Path:
    directory = tmp_path / "schemas"
    shutil.copytree(COMMITTED, directory)
    return directory


def test_committed_schemas_match_the_current_models():
    report = check(COMMITTED)
    assert report.lines() == []
    assert schemas.main(["check", "--dir", str(COMMITTED)]) == EXIT_OK


def test_generate_would_change_nothing(scratch):
    before = {p.name: p.read_bytes() for p in scratch.iterdir()}
    _, written = generate(scratch)
    assert written == []
    assert {p.name: p.read_bytes() for p in scratch.iterdir()} == before


def test_there_is_one_committed_file_per_current_document():
    names = {p.name for p in COMMITTED.glob("*.json")}
    assert names == {d.filename for d in current_documents()}
    assert "envelope.v1.json" in names
    assert len(names) == len(EVENT_TYPES) + 1


def test_files_are_stable_text(scratch):
    for path in COMMITTED.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_a_missing_file_is_outdated_and_generate_writes_it(scratch):
    (scratch / "proposal.withdrawn.v1.json").unlink()
    report = check(scratch)
    assert report.exit_code == EXIT_OUTDATED
    assert report.outdated == ["proposal.withdrawn.v1.json: not generated yet; run generate"]
    _, written = generate(scratch)
    assert [p.name for p in written] == ["proposal.withdrawn.v1.json"]
    assert check(scratch).exit_code == EXIT_OK


def test_a_compatible_difference_is_outdated(scratch):
    path = scratch / "proposal.withdrawn.v1.json"
    schema = json.loads(path.read_text())
    del schema["properties"]["reason"]["title"]
    path.write_text(json.dumps(schema))
    assert check(scratch).exit_code == EXIT_OUTDATED


def test_a_breaking_difference_fails_and_blocks_generate(scratch, capsys):
    # The committed file has a property the model no longer has: to the checker the model removed it.
    path = scratch / "proposal.withdrawn.v1.json"
    schema = json.loads(path.read_text())
    schema["properties"]["withdrawn_at"] = {"type": "string"}
    path.write_text(json.dumps(schema))
    report = check(scratch)
    assert report.exit_code == EXIT_BREAKING
    assert report.breaking == [
        "proposal.withdrawn.v1.json $.withdrawn_at: property removed "
        "(bump schema_version and register an upcaster)"
    ]
    tampered = path.read_text()
    assert schemas.main(["generate", "--dir", str(scratch)]) == EXIT_BREAKING
    assert path.read_text() == tampered  # nothing was overwritten
    assert "property removed" in capsys.readouterr().err


def test_a_removed_event_type_fails(scratch):
    shutil.copy(scratch / "proposal.withdrawn.v1.json", scratch / "proposal.abandoned.v1.json")
    assert check(scratch).breaking == [
        "proposal.abandoned: committed schemas but no model; stored events of a removed type become unreadable"
    ]


def test_a_lowered_version_fails(scratch):
    shutil.copy(scratch / "proposal.withdrawn.v1.json", scratch / "proposal.withdrawn.v2.json")
    assert "proposal.withdrawn: committed v2 is newer than the model's v1" in check(scratch).breaking


def test_a_bumped_version_needs_its_upcaster(scratch, monkeypatch):
    monkeypatch.setattr(ProposalWithdrawn, "schema_version", 2)
    report = check(scratch)
    assert "proposal.withdrawn: stored v1 cannot reach v2; missing v1->v2" in report.breaking
    assert "proposal.withdrawn.v2.json: not generated yet; run generate" in report.outdated


def test_badly_named_files_fail(scratch):
    (scratch / "Proposal Submitted.json").write_text("{}")
    assert check(scratch).breaking == ["Proposal Submitted.json: not named <event_type>.v<version>.json"]
