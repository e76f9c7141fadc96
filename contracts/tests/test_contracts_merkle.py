"""The Merkle core against RFC 6962 written out again here, recursively and from the text alone."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtks_contracts.merkle import (
    EMPTY_ROOT,
    MerkleRootBuilder,
    MerkleTree,
    leaf_hash,
    merkle_root,
    merkle_root_of_list,
    root_from_inclusion,
)


def rfc_mth(data: list[bytes]) -> bytes:
    """RFC 6962 2.1: MTH over leaf inputs."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(data[:k]) + rfc_mth(data[k:])).digest()


def rfc_path(m: int, data: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1: PATH(m, D[n])."""
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*rfc_path(m, data[:k]), rfc_mth(data[k:])]
    return [*rfc_path(m - k, data[k:]), rfc_mth(data[:k])]


def inputs(n: int) -> list[bytes]:
    return [f"hh-{i:06d}\t{hashlib.sha256(str(i).encode()).hexdigest()}".encode() for i in range(n)]


def leaves_of(data: list[bytes]) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + d).digest() for d in data]


def test_a_leaf_hash_is_the_0x00_prefixed_hash_of_id_tab_digest() -> None:
    digest = "ab" * 32
    assert leaf_hash("hh-1", digest) == hashlib.sha256(b"\x00hh-1\t" + digest.encode()).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 257])
def test_the_root_is_rfc_6962_mth_whether_streamed_or_held(n: int) -> None:
    data = inputs(n)
    expected = rfc_mth(data)
    assert merkle_root(leaves_of(data)) == expected
    assert MerkleTree(leaves_of(data)).root() == expected
    assert merkle_root_of_list(list(leaves_of(data))) == expected
    builder = MerkleRootBuilder()
    for leaf in leaves_of(data):
        builder.add(leaf)
    assert (builder.root(), builder.size) == (expected, n)


def test_the_empty_register_has_the_hash_of_nothing_as_root() -> None:
    assert MerkleTree([]).root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_inclusion_proof_is_rfc_6962_path_and_leads_to_the_root(n: int, data: st.DataObject) -> None:
    items = inputs(n)
    tree = MerkleTree(leaves_of(items))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = tree.inclusion_proof(m)
    assert proof == rfc_path(m, items)
    assert root_from_inclusion(tree.leaf(m), m, n, proof) == rfc_mth(items)


def test_a_proof_for_another_leaf_or_position_leads_elsewhere() -> None:
    items = inputs(13)
    tree = MerkleTree(leaves_of(items))
    proof = tree.inclusion_proof(6)
    assert root_from_inclusion(tree.leaf(5), 6, 13, proof) != tree.root()
    assert root_from_inclusion(tree.leaf(6), 7, 13, proof) != tree.root()
    with pytest.raises(ValueError, match="shorter"):
        root_from_inclusion(tree.leaf(6), 6, 13, proof[:-1])
    with pytest.raises(ValueError, match="longer"):
        root_from_inclusion(tree.leaf(6), 6, 13, [*proof, proof[0]])


def test_no_proof_exists_for_a_position_outside_the_tree() -> None:
    tree = MerkleTree(leaves_of(inputs(5)))
    with pytest.raises(IndexError):
        tree.inclusion_proof(5)
