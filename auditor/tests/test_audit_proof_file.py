"""dtks-audit's offline proof check for an institution's (LKS, #19) inclusion proof: its own leaf
hash after the households' leaves, the same path to the signed root; a doctored proof, a household's
leaf passed off as an institution's, or an untrusted key is refused."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dtks_audit.proof_file import verify_proof
from dtks_audit.signatures import TrustedKeys
from dtks_contracts.merkle import MerkleTree, institution_leaf_hash, leaf_hash
from dtks_contracts.tree_head import key_id, signed_bytes

HOUSEHOLDS = [("H-1", "a" * 64), ("H-2", "b" * 64), ("H-3", "c" * 64)]
INSTITUTIONS = [("LKS-1", "d" * 64), ("LKS-2", "e" * 64)]


def _proof(key: Ed25519PrivateKey, index: int) -> dict[str, Any]:
    """A proof of institution ``index`` as the registry's /decree-proofs/institution-inclusion gives it."""
    tree = MerkleTree(
        [leaf_hash(h, d) for h, d in HOUSEHOLDS] + [institution_leaf_hash(i, d) for i, d in INSTITUTIONS]
    )
    head = {
        "decree_number": "1/HUK/2027", "issued_at": "2027-01-02T03:04:05Z", "period": "2027-Q1",
        "previous_decree": None, "previous_register_hash": None, "register_hash": tree.root().hex(),
        "tree_size": len(HOUSEHOLDS) + len(INSTITUTIONS),
    }  # fmt: skip
    public = key.public_key().public_bytes_raw()
    leaf_index = len(HOUSEHOLDS) + index
    return {
        "format": "dtks-institution-inclusion-proof-v1",
        "tree_head": head,
        "signature": {
            "key_id": key_id(public),
            "algorithm": "ed25519",
            "value": key.sign(signed_bytes(head)).hex(),
        },
        "institution_id": INSTITUTIONS[index][0],
        "institution_digest": INSTITUTIONS[index][1],
        "leaf_index": leaf_index,
        "audit_path": [h.hex() for h in tree.inclusion_proof(leaf_index)],
    }


def test_an_institutions_inclusion_proof_verifies_and_a_doctored_one_does_not() -> None:
    key = Ed25519PrivateKey.generate()
    trusted = TrustedKeys.of([key.public_key().public_bytes_raw().hex()])
    for index in range(len(INSTITUTIONS)):
        assert verify_proof(_proof(key, index), trusted) == []
    proof = _proof(key, 1)
    assert verify_proof({**proof, "institution_digest": "f" * 64}, trusted) == [
        "institution LKS-2: the path does not lead to decree 1/HUK/2027's root"
    ]
    # The same leaf read as a household's hashes differently: a household proof of it fails.
    as_household = {**proof, "format": "dtks-inclusion-proof-v1", "household_id": "LKS-2",
                    "household_digest": proof["institution_digest"]}  # fmt: skip
    assert verify_proof(as_household, trusted)
    stranger = TrustedKeys.of([Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()])
    assert "not trusted" in verify_proof(proof, stranger)[0]
