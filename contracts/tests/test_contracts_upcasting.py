import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from dtks_contracts import upcasting
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import ProposalWithdrawn
from dtks_contracts.upcasting import (
    FutureSchemaVersionError,
    MissingUpcasterError,
    UpcasterChainError,
    UpcasterRegistry,
    upcast,
    verify_upcaster_chains,
)


def toy_registry() -> UpcasterRegistry:
    # toy.renamed: v1 had "nama", v2 renamed it "name", v3 split a "full" address into parts.
    registry = UpcasterRegistry()

    @registry.register("toy.renamed", 1)
    def rename(payload):
        payload["name"] = payload.pop("nama")
        return payload

    @registry.register("toy.renamed", 2)
    def split(payload):
        street, _, village = payload.pop("address").partition(", ")
        return {**payload, "street": street, "village": village}

    return registry


def test_a_v1_payload_is_lifted_step_by_step_to_the_current_version():
    registry = toy_registry()
    stored = {"nama": "Siti", "address": "Jl. Merdeka 1, Pagar Dewa"}
    version, lifted = registry.upcast("toy.renamed", 1, stored, current_version=3)
    assert version == 3
    assert lifted == {"name": "Siti", "street": "Jl. Merdeka 1", "village": "Pagar Dewa"}
    assert stored == {"nama": "Siti", "address": "Jl. Merdeka 1, Pagar Dewa"}  # never edited in place
    assert registry.upcast("toy.renamed", 3, lifted, current_version=3) == (3, lifted)


def test_gaps_and_future_versions_are_errors():
    registry = toy_registry()
    with pytest.raises(MissingUpcasterError, match="v3 -> v4"):
        registry.upcast("toy.renamed", 1, {"nama": "x", "address": "a, b"}, current_version=4)
    with pytest.raises(FutureSchemaVersionError, match="upgrade"):
        registry.upcast("toy.renamed", 4, {}, current_version=3)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("toy.renamed", 1)(lambda p: p)


def test_chain_check_finds_every_break():
    registry = toy_registry()
    registry.verify_chains({"toy.renamed": 3})
    registry.verify_chains({"toy.renamed": 3}, {"toy.renamed": [2]})
    with pytest.raises(UpcasterChainError, match="stored v1 cannot reach v4; missing v3->v4"):
        registry.verify_chains({"toy.renamed": 4})
    with pytest.raises(UpcasterChainError, match="lifts beyond the current v2"):
        registry.verify_chains({"toy.renamed": 2})
    with pytest.raises(UpcasterChainError, match=r"unknown event type toy\.renamed"):
        registry.verify_chains({})
    with pytest.raises(UpcasterChainError, match="stored v5 is newer"):
        registry.verify_chains({"toy.renamed": 3}, {"toy.renamed": [5]})


def test_the_real_chains_are_whole():
    verify_upcaster_chains()
    assert upcast("proposal.withdrawn", 1, {"proposal_id": "p"}) == (1, {"proposal_id": "p"})


def test_the_copy_given_to_upcasters_shares_nothing_mutable_with_the_stored_payload():
    registry = UpcasterRegistry()

    @registry.register("toy.nested", 1)
    def edit(payload):
        payload["household"]["members"][0]["name"] = "changed"
        payload["household"]["tags"].add("changed")
        payload["household"]["members"].append({"name": "added"})
        return payload

    stored = {
        "household": {"members": [{"name": "Siti", "age": 3, "w": 1.5, "ok": True, "x": None}], "tags": {"a"}}
    }
    _, lifted = registry.upcast("toy.nested", 1, stored, current_version=2)
    assert stored == {
        "household": {"members": [{"name": "Siti", "age": 3, "w": 1.5, "ok": True, "x": None}], "tags": {"a"}}
    }
    assert lifted["household"]["members"][0]["name"] == "changed"
    assert lifted["household"]["tags"] == {"a", "changed"}


def test_typed_payload_lifts_older_versions_and_reads_current_ones_directly(monkeypatch, village_operator):
    monkeypatch.setattr(ProposalWithdrawn, "schema_version", 2)
    steps = upcasting._DEFAULT._steps

    def rename(payload):
        payload["reason"] = payload.pop("why")
        return payload

    monkeypatch.setitem(steps, ("proposal.withdrawn", 1), rename)
    v2 = {
        "proposal_id": "p-1",
        "round": 1,
        "village_code": "17.71.01.1001",
        "withdrawn_by": village_operator.model_dump(mode="json"),
        "reason": "Duplicate entry",
    }
    v1 = {**{k: v for k, v in v2.items() if k != "reason"}, "why": "Duplicate entry"}

    def envelope(version, payload):
        return EventEnvelope(
            event_id=uuid.uuid4(),
            event_type="proposal.withdrawn",
            schema_version=version,
            aggregate_type="proposal",
            aggregate_id="p-1",
            aggregate_version=1,
            occurred_at=dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
            correlation_id="c",
            payload=payload,
        )

    old = envelope(1, v1)
    assert old.payload_as(ProposalWithdrawn).reason == "Duplicate entry"
    assert "why" in old.payload and "reason" not in old.payload  # the stored payload is never edited
    assert envelope(2, v2).payload_as(ProposalWithdrawn).reason == "Duplicate entry"
    with pytest.raises(ValidationError):
        envelope(2, v1).typed_payload()  # a current-version payload is not run through upcasters
    with pytest.raises(FutureSchemaVersionError):
        envelope(3, v2).typed_payload()
