"""Proofs about decrees, for anyone to check offline against the Ministry's public key.

Inclusion: a household's leaf (or an institution's, #19), its position and the audit path to the
decree's Merkle root, with the signed tree head. What changed between two decrees: every household that entered, changed or
left, each with inclusion proofs in the decree(s) it is in, so each listed change is proven; that the
list is complete is checked by whoever holds the earlier register (apply it, compare the later root),
as dtks-audit does. Decrees issued before the Merkle root (flat hash) have no proofs.

A decree's tree is built once per process from the decree's rows and kept (a decree never changes),
so proofs after the first are a dictionary look-up and a few dozen hashes.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from dtks_contracts.events.registry import DeterminationIssued
from dtks_contracts.merkle import MerkleTree, assistance_leaf_hash, institution_leaf_hash, leaf_hash
from dtks_contracts.tree_head import tree_head
from dtks_registry.adapters.projection import read_determination
from dtks_registry.adapters.register import AS_OF_SQL, ASSISTANCE_AS_OF_SQL, INSTITUTIONS_AS_OF_SQL
from dtks_runtime.errors import DomainError

INCLUSION_FORMAT: Final = "dtks-inclusion-proof-v1"
# An institution's leaf (#19) is hashed differently from a household's, so its proof has a format of
# its own: a verifier that knows only households' proofs says it does not know it, never "valid".
INSTITUTION_INCLUSION_FORMAT: Final = "dtks-institution-inclusion-proof-v1"
CHANGES_FORMAT: Final = "dtks-decree-changes-proof-v1"
# A leaf given by its hash alone, with its path to the signed root: what the citizens' check hands a
# resident of an institution (#19), whose leaf's own inputs would name the institution.
LEAF_INCLUSION_FORMAT: Final = "dtks-leaf-inclusion-proof-v1"


@dataclass(frozen=True)
class DecreeTree:
    decree: DeterminationIssued
    household_ids: list[str]
    digests: list[str]
    tree: MerkleTree
    # The institutions section (#19): its leaves follow the households' in the tree.
    institution_ids: list[str] = field(default_factory=list)
    institution_digests: list[str] = field(default_factory=list)

    def index_of(self, household_id: str) -> int | None:
        i = bisect.bisect_left(self.household_ids, household_id)
        return i if i < len(self.household_ids) and self.household_ids[i] == household_id else None

    def head(self) -> dict[str, Any]:
        signature = self.decree.signature
        return {
            "tree_head": tree_head(self.decree),
            "signature": signature.model_dump(mode="json") if signature else None,
        }

    def inclusion(self, household_id: str) -> dict[str, Any]:
        index = self.index_of(household_id)
        if index is None:
            # No leaf, so no path exists: a proof for a household outside the decree cannot be made.
            raise DomainError(
                "household_not_in_decree",
                f"Household {household_id} is not in the register of decree {self.decree.decree_number}, "
                "so there is nothing to prove; check the decree number or the household id.",
            )
        return {
            "format": INCLUSION_FORMAT,
            **self.head(),
            "household_id": household_id,
            "household_digest": self.digests[index],
            "leaf_index": index,
            "audit_path": [h.hex() for h in self.tree.inclusion_proof(index)],
        }

    def institution_index(self, institution_id: str) -> int | None:
        i = bisect.bisect_left(self.institution_ids, institution_id)
        return i if i < len(self.institution_ids) and self.institution_ids[i] == institution_id else None

    def resident_inclusion(self, institution_id: str) -> dict[str, Any]:
        """The proof for a resident of the institution, naming no institution: its leaf's hash (not
        its id and digest, from which the institution could be looked up) and the path from it to the
        signed root. It proves that this leaf is in the decree the Ministry signed; that the leaf is
        the resident's institution is the registry's word, as a household's digest is for a member."""
        i = self.institution_index(institution_id)
        assert i is not None, "a resident's institution is in the tree (the caller checks)"
        index = len(self.household_ids) + i
        leaf = institution_leaf_hash(institution_id, self.institution_digests[i])
        return {
            "format": LEAF_INCLUSION_FORMAT,
            **self.head(),
            "leaf_hash": leaf.hex(),
            "leaf_index": index,
            "audit_path": [h.hex() for h in self.tree.inclusion_proof(index)],
        }

    def institution_inclusion(self, institution_id: str) -> dict[str, Any]:
        i = bisect.bisect_left(self.institution_ids, institution_id)
        if i == len(self.institution_ids) or self.institution_ids[i] != institution_id:
            raise DomainError(
                "institution_not_in_decree",
                f"Institution {institution_id} is not in the register of decree "
                f"{self.decree.decree_number}, so there is nothing to prove; check the decree number "
                "or the institution id.",
            )
        index = len(self.household_ids) + i
        return {
            "format": INSTITUTION_INCLUSION_FORMAT,
            **self.head(),
            "institution_id": institution_id,
            "institution_digest": self.institution_digests[i],
            "leaf_index": index,
            "audit_path": [h.hex() for h in self.tree.inclusion_proof(index)],
        }


class DecreeTrees:
    """The trees of the last few decrees asked about (one national tree is about 100 MB at 1.5 M
    households... so few are kept)."""

    def __init__(self, keep: int = 2) -> None:
        self._trees: OrderedDict[str, DecreeTree] = OrderedDict()
        self._keep = keep
        self._lock = asyncio.Lock()

    async def get(self, conn: asyncpg.Connection, decree_number: str) -> DecreeTree:
        async with self._lock:  # one build at a time; the others wait and then find it
            tree = self._trees.get(decree_number)
            if tree is None:
                tree = await load_tree(conn, decree_number)
                self._trees[decree_number] = tree
                while len(self._trees) > self._keep:
                    self._trees.popitem(last=False)
            self._trees.move_to_end(decree_number)
            return tree


async def load_tree(conn: asyncpg.Connection, decree_number: str) -> DecreeTree:
    recorded = await read_determination(conn, decree_number, lists=False)  # its root and signature
    if recorded is None:
        raise DomainError("decree_not_found", f"No decree numbered {decree_number} has been issued.")
    decree = recorded.decree
    if decree.signature is None or decree.tree_size is None:
        raise DomainError(
            "decree_without_merkle_root",
            f"Decree {decree_number} was issued with the flat register hash, before Merkle roots; it "
            "can be checked by recomputing that hash over its register (dtks-audit does), not by proofs.",
        )
    rows = await conn.fetch(
        f"SELECT household_id, digest FROM ({AS_OF_SQL}) r ORDER BY household_id", decree_number
    )
    ids = [r["household_id"] for r in rows]
    digests = [r["digest"] for r in rows]
    # The institutions section (#19) after the households' leaves: a household's leaf index is the
    # same with or without it, and a decree without institutions has exactly the households' tree.
    institutions = await conn.fetch(
        f"SELECT institution_id, digest FROM ({INSTITUTIONS_AS_OF_SQL}) r ORDER BY institution_id",
        decree_number,
    )
    # Then the assistance section (#19), once any assistance was determined.
    assistance = await conn.fetch(
        f"""SELECT institution_id, proposal_id, digest FROM ({ASSISTANCE_AS_OF_SQL}) r
            ORDER BY institution_id, proposal_id""",
        decree_number,
    )
    tree = MerkleTree(
        [leaf_hash(i, d) for i, d in zip(ids, digests, strict=True)]
        + [institution_leaf_hash(r["institution_id"], r["digest"]) for r in institutions]
        + [assistance_leaf_hash(r["institution_id"], r["proposal_id"], r["digest"]) for r in assistance]
    )
    if tree.root().hex() != decree.register_hash:
        # The rows answering proofs are not the decree's register: never hand out a proof from them.
        raise DomainError(
            "register_differs_from_decree",
            f"The register held for decree {decree_number} does not give its signed root; run the "
            "registry's verify (dtks-replay verify) to find the altered households.",
        )
    return DecreeTree(
        decree,
        ids,
        digests,
        tree,
        [r["institution_id"] for r in institutions],
        [r["digest"] for r in institutions],
    )


def changes(old: DecreeTree, new: DecreeTree) -> dict[str, Any]:
    """What entered, changed and left between two decrees, each change with its inclusion proofs."""
    before = dict(zip(old.household_ids, old.digests, strict=True))
    after = dict(zip(new.household_ids, new.digests, strict=True))
    entered = sorted(after.keys() - before.keys())
    left = sorted(before.keys() - after.keys())
    changed = sorted(h for h in before.keys() & after.keys() if before[h] != after[h])

    def path(tree: DecreeTree, household_id: str) -> dict[str, Any]:
        proof = tree.inclusion(household_id)
        return {k: proof[k] for k in ("household_digest", "leaf_index", "audit_path")}

    return {
        "format": CHANGES_FORMAT,
        "from": old.head(),
        "to": new.head(),
        "entered": [{"household_id": h, "to": path(new, h)} for h in entered],
        "changed": [{"household_id": h, "from": path(old, h), "to": path(new, h)} for h in changed],
        "left": [{"household_id": h, "from": path(old, h)} for h in left],
    }
