"""Checking one proof file offline: an inclusion proof (a household's or an institution's) or the
changes between two decrees, as the registry's /decree-proofs routes and the citizens' check hand
them out."""

from __future__ import annotations

from typing import Any

from dtks_audit.signatures import TrustedKeys, signature_valid
from dtks_contracts.household import Household
from dtks_contracts.institution import Institution
from dtks_contracts.merkle import institution_leaf_hash, leaf_hash, root_from_inclusion
from dtks_contracts.register_hash import household_digest, institution_digest
from dtks_contracts.tree_head import signed_bytes


def _head_problems(document: dict[str, Any], trusted: TrustedKeys) -> list[str]:
    signature = document.get("signature") or {}
    key = trusted.keys.get(signature.get("key_id", ""))
    if key is None:
        return [f"the tree head is signed by key {signature.get('key_id')!r}, which is not trusted"]
    if not signature_valid(key, signature.get("value", ""), signed_bytes(document["tree_head"])):
        return ["the tree head's signature does not verify"]
    return []


def _path_problems(household_id: str, proof: dict[str, Any], head: dict[str, Any]) -> list[str]:
    if "household" in proof:
        snapshot = Household.model_validate(proof["household"])
        if household_digest(snapshot) != proof["household_digest"]:
            return [f"household {household_id}: the snapshot given does not have the digest given"]
    leaf = leaf_hash(household_id, proof["household_digest"])
    try:
        root = root_from_inclusion(
            leaf, proof["leaf_index"], head["tree_size"], [bytes.fromhex(h) for h in proof["audit_path"]]
        )
    except ValueError as exc:
        return [f"household {household_id}: {exc}"]
    if root.hex() != head["register_hash"]:
        return [f"household {household_id}: the path does not lead to decree {head['decree_number']}'s root"]
    return []


def _institution_problems(proof: dict[str, Any]) -> list[str]:
    """An institution's (#19) inclusion: its own leaf hash, then the same path to the same root."""
    institution_id, head = proof["institution_id"], proof["tree_head"]
    if "institution" in proof:
        snapshot = Institution.model_validate(proof["institution"])
        if institution_digest(snapshot) != proof["institution_digest"]:
            return [f"institution {institution_id}: the snapshot given does not have the digest given"]
    leaf = institution_leaf_hash(institution_id, proof["institution_digest"])
    try:
        root = root_from_inclusion(
            leaf, proof["leaf_index"], head["tree_size"], [bytes.fromhex(h) for h in proof["audit_path"]]
        )
    except ValueError as exc:
        return [f"institution {institution_id}: {exc}"]
    if root.hex() != head["register_hash"]:
        return [
            f"institution {institution_id}: the path does not lead to decree {head['decree_number']}'s root"
        ]
    return []


def _leaf_problems(proof: dict[str, Any]) -> list[str]:
    """A leaf given by its hash alone (the citizens' proof for an institution's resident, #19): its
    path must lead to the signed root. What the leaf stands for is not in the file to check."""
    head = proof["tree_head"]
    try:
        root = root_from_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            head["tree_size"],
            [bytes.fromhex(h) for h in proof["audit_path"]],
        )
    except ValueError as exc:
        return [f"leaf {proof['leaf_index']}: {exc}"]
    if root.hex() != head["register_hash"]:
        return [
            f"leaf {proof['leaf_index']}: the path does not lead to decree {head['decree_number']}'s root"
        ]
    return []


def verify_proof(document: dict[str, Any], trusted: TrustedKeys) -> list[str]:
    """Every reason the proof fails, or an empty list when it holds."""
    kind = document.get("format")
    if kind == "dtks-inclusion-proof-v1":
        return _head_problems(document, trusted) + _path_problems(
            document["household_id"], document, document["tree_head"]
        )
    if kind == "dtks-institution-inclusion-proof-v1":
        return _head_problems(document, trusted) + _institution_problems(document)
    if kind == "dtks-leaf-inclusion-proof-v1":
        return _head_problems(document, trusted) + _leaf_problems(document)
    if kind == "dtks-decree-changes-proof-v1":
        old, new = document["from"], document["to"]
        problems = _head_problems(old, trusted) + _head_problems(new, trusted)
        for entry in document["entered"] + document["changed"]:
            problems += _path_problems(entry["household_id"], entry["to"], new["tree_head"])
        for entry in document["changed"] + document["left"]:
            problems += _path_problems(entry["household_id"], entry["from"], old["tree_head"])
        for entry in document["changed"]:
            if entry["from"]["household_digest"] == entry["to"]["household_digest"]:
                problems.append(
                    f"household {entry['household_id']}: listed as changed but its digest is the same"
                )
        return problems
    return [f"not a DTKS proof file (format {kind!r})"]
