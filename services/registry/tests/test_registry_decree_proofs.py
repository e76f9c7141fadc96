"""Decree proofs against the real broker and database, checked by a verifier written here from the
RFCs (6962's PATH, 8032's Ed25519 through `cryptography`), never by the code that made them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dtks_contracts.household import Address, Household
from dtks_contracts.register_hash import household_digest
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household, nik

pytestmark = pytest.mark.infra


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """RFC 6962 2.1.1 read backwards: PATH(m, D[n]) ends with the sibling of the top split."""
    if n == 1:
        assert not path, "path longer than the tree"
        return leaf
    assert path, "path shorter than the tree"
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _h(b"\x01" + root_from_path(leaf, m, k, path[:-1]) + path[-1])
    return _h(b"\x01" + path[-1] + root_from_path(leaf, m - k, n - k, path[:-1]))


def head_verifies(head: dict[str, Any], signature: dict[str, Any], public_key_hex: str) -> bool:
    data = b"dtks-decree-tree-head-v1\n" + json.dumps(head, sort_keys=True, separators=(",", ":")).encode()
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature["value"]), data
        )
    except InvalidSignature:
        return False
    return True


def proves(proof: dict[str, Any], household_id: str, head: dict[str, Any]) -> bool:
    leaf = _h(b"\x00" + f"{household_id}\t{proof['household_digest']}".encode())
    path = [bytes.fromhex(p) for p in proof["audit_path"]]
    root = root_from_path(leaf, proof["leaf_index"], head["tree_size"], path)
    return root.hex() == head["register_hash"]


async def two_decrees(registry: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    await registry.accept(
        [acceptance(f"prop-m{i}", accepted_at=ago(5), household=make_household(40 + i)) for i in range(5)]
    )
    first = (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(4))).json()
    hids = [household_id_for(f"prop-m{i}") for i in range(5)]
    moved = make_household(40, household_id=hids[0], address=Address(street="Jl. Merkle 1"))
    await registry.accept([
        acceptance("prop-m-fix", accepted_at=ago(3), household=moved, kind=ProposalKind.CORRECTION, target=hids[0]),
        acceptance("prop-m-end", accepted_at=ago(3), kind=ProposalKind.DEACTIVATION, target=hids[1],
                   reason=DeactivationReason.MOVED_AWAY, programs=[]),
        acceptance("prop-m5", accepted_at=ago(3), household=make_household(45)),
    ])  # fmt: skip
    second = (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(2))).json()
    return first, second, [*hids, household_id_for("prop-m5")]


async def test_decrees_are_signed_chained_and_every_household_has_a_proof_an_outsider_can_check(registry):
    first, second, hids = await two_decrees(registry)
    keys = (await registry.client.get("/.well-known/dtks-decree-keys")).json()
    public_key = keys["current"]["public_key"]
    assert [k["key_id"] for k in keys["recorded"]] == [keys["current"]["key_id"]]  # recorded once
    assert (
        second["previous_decree"] == "1/HUK/2027"
        and second["previous_register_hash"] == first["register_hash"]
    )
    assert first["previous_decree"] is None and second["tree_size"] == 5

    auditor = registry.auth(Role.AUDITOR)
    for household_id in [h for h in hids if h != hids[1]]:
        response = await registry.client.get(
            "/decree-proofs/inclusion", params={"decree": "2/HUK/2027", "household_id": household_id},
            headers=auditor,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        proof = response.json()
        assert head_verifies(proof["tree_head"], proof["signature"], public_key)
        assert proof["tree_head"]["register_hash"] == second["register_hash"]
        assert proves(proof, household_id, proof["tree_head"])
        # The digest is the household's own: recompute it from its snapshot.
        snapshot = (await registry.client.get(f"/households/{household_id}", headers=auditor)).json()
        assert proof["household_digest"] == household_digest(Household.model_validate(snapshot["household"]))
        # Another household's leaf does not pass with this path.
        assert not proves(proof, hids[1], proof["tree_head"])

    # A signature under another key is refused by the same verifier.
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    assert not head_verifies(proof["tree_head"], proof["signature"], stranger)
    forged_head = {**proof["tree_head"], "register_hash": "00" * 32}
    assert not head_verifies(forged_head, proof["signature"], public_key)

    # No proof for a household that is not in the decree (deactivated, or never registered).
    for absent in (hids[1], "H-NOT-THERE"):
        refused = await registry.client.get(
            "/decree-proofs/inclusion",
            params={"decree": "2/HUK/2027", "household_id": absent},
            headers=auditor,
        )
        assert refused.status_code == 404 and refused.json()["code"] == "household_not_in_decree"
    # By NIK, for those entitled: the head of household 2's NIK.
    by_nik = await registry.client.get(
        "/decree-proofs/inclusion",
        params={"decree": "2/HUK/2027", "nik": nik(2 * 42, female=True)},
        headers=auditor,
    )
    assert by_nik.status_code == 200 and by_nik.json()["household_id"] == hids[2]
    elsewhere = registry.auth(Role.DISTRICT_VERIFIER, "17.71.09")
    hidden = await registry.client.get(
        "/decree-proofs/inclusion",
        params={"decree": "2/HUK/2027", "household_id": hids[2]},
        headers=elsewhere,
    )
    assert hidden.status_code == 404


async def test_the_changes_between_two_decrees_are_listed_exactly_and_each_is_proven(registry):
    first, _, hids = await two_decrees(registry)
    public_key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    response = await registry.client.get(
        "/decree-proofs/changes", params={"from": "1/HUK/2027", "to": "2/HUK/2027"},
        headers=registry.auth(Role.AUDITOR),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    changes = response.json()
    assert [c["household_id"] for c in changes["entered"]] == [hids[5]]
    assert [c["household_id"] for c in changes["changed"]] == [hids[0]]
    assert [c["household_id"] for c in changes["left"]] == [hids[1]]
    old, new = changes["from"], changes["to"]
    assert head_verifies(old["tree_head"], old["signature"], public_key)
    assert head_verifies(new["tree_head"], new["signature"], public_key)
    assert old["tree_head"]["register_hash"] == first["register_hash"]
    for c in changes["entered"] + changes["changed"]:
        assert proves(c["to"], c["household_id"], new["tree_head"])
    for c in changes["changed"] + changes["left"]:
        assert proves(c["from"], c["household_id"], old["tree_head"])
    changed = changes["changed"][0]
    assert changed["from"]["household_digest"] != changed["to"]["household_digest"]
    # Those in neither list kept their leaf: their proofs in both decrees carry the same digest.
    unchanged = sorted(set(hids) - {hids[0], hids[1], hids[5]})
    for household_id in unchanged:
        digests = set()
        for decree in ("1/HUK/2027", "2/HUK/2027"):
            proof = (
                await registry.client.get(
                    "/decree-proofs/inclusion",
                    params={"decree": decree, "household_id": household_id},
                    headers=registry.auth(Role.AUDITOR),
                )
            ).json()
            digests.add(proof["household_digest"])
        assert len(digests) == 1


async def test_the_citizens_check_gives_a_masked_proof_and_an_altered_row_gives_none(registry):
    _, _, hids = await two_decrees(registry)
    public_key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    answer = (
        await registry.client.get(
            "/public/registration-proof", params={"nik": nik(2 * 42, female=True), "name": "Siti Aminah"}
        )
    ).json()
    assert answer["in_decree"] is True and answer["decree"] == "2/HUK/2027"
    proof = answer["proof"]
    assert proves(proof, proof["household_id"], proof["tree_head"])
    assert head_verifies(proof["tree_head"], proof["signature"], public_key)
    assert "Siti" not in json.dumps(answer) and "household" not in proof  # masked: no snapshot, no names
    wrong = (
        await registry.client.get(
            "/public/registration-proof", params={"nik": nik(2 * 42, female=True), "name": "Someone Else"}
        )
    ).json()
    assert wrong["in_decree"] is False and wrong["proof"] is None

    # A row of the live projection changed: the registry refuses to prove from it (a fresh process,
    # whose tree is built from the altered rows, finds the root no longer matches the signature).
    async with registry.pool.acquire() as conn:
        await conn.execute(
            "UPDATE household_changes SET digest = repeat('0', 64) WHERE household_id = $1 AND decree_number = $2",
            hids[3], "1/HUK/2027",
        )  # fmt: skip
    refused = await registry.client.get(
        "/decree-proofs/inclusion", params={"decree": "1/HUK/2027", "household_id": hids[2]},
        headers=registry.auth(Role.AUDITOR),
    )  # fmt: skip
    assert refused.status_code == 500 and refused.json()["code"] == "register_differs_from_decree"
