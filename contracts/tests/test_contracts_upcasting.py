import pytest

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
