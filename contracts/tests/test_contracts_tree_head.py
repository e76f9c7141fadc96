"""Decrees of version 2: the tree head bytes the Ministry signs, and version 1 decrees read as issued."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued, Period, RegisterCounts
from dtks_contracts.merkle import MERKLE_ALGORITHM
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.tree_head import TREE_HEAD_CONTEXT, tree_head_bytes
from dtks_contracts.vocabulary.roles import Role

DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
ISSUED = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def decree(**overrides: object) -> DeterminationIssued:
    fields: dict[str, object] = dict(
        decree_number="2/HUK/2027", period=Period(year=2027, quarter=1), cut_off=ISSUED, issued_at=ISSUED,
        register_hash="ab" * 32, hash_algorithm=MERKLE_ALGORITHM,
        counts=RegisterCounts(households=3, people=9), issued_by=DETERMINER, tree_size=3,
        previous_decree="1/HUK/2026", previous_register_hash="cd" * 32,
    )  # fmt: skip
    fields.update(overrides)
    return DeterminationIssued(**fields)  # type: ignore[arg-type]


def test_the_signed_bytes_are_the_context_line_and_the_sorted_compact_head() -> None:
    data = tree_head_bytes(decree())
    assert data.startswith(TREE_HEAD_CONTEXT)
    assert json.loads(data[len(TREE_HEAD_CONTEXT) :]) == {
        "decree_number": "2/HUK/2027",
        "issued_at": "2027-01-02T03:04:05Z",
        "period": "2027-Q1",
        "previous_decree": "1/HUK/2026",
        "previous_register_hash": "cd" * 32,
        "register_hash": "ab" * 32,
        "tree_size": 3,
    }
    assert b" " not in data[len(TREE_HEAD_CONTEXT) :]


def test_every_field_of_the_head_changes_the_signed_bytes() -> None:
    base = tree_head_bytes(decree())
    for change in (
        {"decree_number": "3/HUK/2027"},
        {"register_hash": "ef" * 32},
        {"tree_size": 4},
        {"previous_decree": "9/HUK/2026"},
        {"previous_register_hash": "00" * 32},
        {"issued_at": ISSUED + dt.timedelta(seconds=1)},
        {"period": Period(year=2027, quarter=2)},
    ):
        assert tree_head_bytes(decree(**change)) != base, change


def test_a_chain_link_names_both_the_previous_decree_and_its_hash() -> None:
    with pytest.raises(ValidationError, match="go together"):
        decree(previous_register_hash=None)


def test_a_version_1_decree_is_lifted_unchanged_and_keeps_its_flat_hash() -> None:
    v1 = {
        "decree_number": "1/HUK/2026", "period": {"year": 2026, "quarter": 1},
        "cut_off": "2026-01-01T00:00:00Z", "issued_at": "2026-01-02T00:00:00Z",
        "register_hash": "12" * 32, "hash_algorithm": REGISTER_HASH_ALGORITHM,
        "counts": {"households": 1, "people": 2}, "issued_by": DETERMINER.model_dump(mode="json"),
    }  # fmt: skip
    envelope = EventEnvelope.model_validate(
        {
            "event_id": "00000000-0000-0000-0000-000000000001", "event_type": "registry.determination_issued",
            "schema_version": 1, "aggregate_type": "determination", "aggregate_id": "1/HUK/2026",
            "aggregate_version": 1, "occurred_at": "2026-01-02T00:00:00Z", "correlation_id": "c",
            "payload": v1,
        }
    )  # fmt: skip
    lifted = envelope.payload_as(DeterminationIssued)
    assert DeterminationIssued.schema_version == 2
    assert lifted.register_hash == "12" * 32 and lifted.hash_algorithm == REGISTER_HASH_ALGORITHM
    assert lifted.signature is None and lifted.tree_size is None and lifted.previous_decree is None
