"""The register as a Merkle tree, as Certificate Transparency builds its logs (RFC 6962, section 2.1).

A decree's register hash (from schema version 2 of ``registry.determination_issued``) is the root of
this tree, so anyone can be shown, with a few dozen hashes, that one household is in a decree
(inclusion proof) without seeing the rest of the register. The leaves are sorted by household id,
not appended, so RFC 6962's append-only consistency proof does not apply between two decrees; what
changed between them is proven household by household (see dtks_contracts.decree_proofs).

The tree, precisely enough to rebuild it:
- leaves: every active household of the register, sorted by household_id (code-point order, as the
  flat hash of version 1), one leaf each;
- leaf input: the UTF-8 bytes of ``'<household_id>\\t<household digest>'`` where the household digest is
  :func:`dtks_contracts.register_hash.household_digest` (SHA-256 hex of the canonical snapshot);
- leaf hash: SHA-256(0x00 || leaf input); node hash: SHA-256(0x01 || left || right) -- the prefixes
  keep a leaf from ever being passed off as an inner node (second pre-image);
- the tree over n leaves is RFC 6962's MTH: the left subtree holds the largest power of two smaller
  than n leaves; the empty tree's root is SHA-256 of nothing.
Roots and proof hashes are written as lower-case hex.

Everything here is pure and standard library only, so an auditor's tool can use it as it is, and a
verifier written from the RFC alone must agree with it (the tests have one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, Final

MERKLE_ALGORITHM: Final = (
    "dtks-register-merkle-v1: RFC 6962 Merkle tree hash (SHA-256, leaf prefix 0x00, node prefix 0x01, "
    "lower-case hex root) over one leaf per active household, sorted by household_id (code-point "
    "order); leaf input = UTF-8 '<household_id>\\t<household digest>', household digest as in "
    "dtks-register-sha256-v1"
)

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(household_id: str, digest: str) -> bytes:
    return _sha256(b"\x00" + f"{household_id}\t{digest}".encode()).digest()


def decree_leaf(household: Any) -> str:
    """The leaf of a determined household (a dtks_contracts.household.Household with its id), hex."""
    from dtks_contracts.register_hash import household_digest

    return leaf_hash(str(household.household_id), household_digest(household)).hex()


# Social welfare institutions (LKS, issue #19): their own section of the register, after the
# households' leaves. A register without institutions has no such section, so its root is exactly
# the households' root above: the roots of decrees issued before institutions existed never change.
INSTITUTION_SECTION: Final = (
    "institutions section: after every household leaf, one leaf per active institution sorted by "
    "institution_id (code-point order); leaf input = UTF-8 'institution\\t<institution_id>\\t<institution "
    "digest>' (two tabs where a household's has one, so no leaf of one section can be read as the "
    "other's), institution digest = SHA-256 hex of its canonical snapshot as for households"
)


def institution_leaf_hash(institution_id: str, digest: str) -> bytes:
    return _sha256(b"\x00" + f"institution\t{institution_id}\t{digest}".encode()).digest()


def institution_decree_leaf(institution: Any) -> str:
    """The leaf of a determined institution (a dtks_contracts.institution.Institution with its id), hex."""
    from dtks_contracts.register_hash import institution_digest

    return institution_leaf_hash(str(institution.institution_id), institution_digest(institution)).hex()


# Institutions' assistance (#19): a third section, after the institutions' leaves, present only once
# some assistance was determined, so every root before it is unchanged. Three tabs where an
# institution leaf has two and a household leaf one: no leaf of one section reads as another's. Short,
# as the three sections' texts share the decree's hash_algorithm (1,000 characters at most).
ASSISTANCE_SECTION: Final = (
    "assistance section: after the institution leaves, one leaf per assistance determined by this or an "
    "earlier decree, sorted by institution_id then proposal_id; leaf input = UTF-8 'assistance\\t"
    "<institution_id>\\t<proposal_id>\\t<SHA-256 hex of the decree's canonical entry>'"
)


def assistance_leaf_hash(institution_id: str, proposal_id: str, digest: str) -> bytes:
    return _sha256(b"\x00" + f"assistance\t{institution_id}\t{proposal_id}\t{digest}".encode()).digest()


def assistance_decree_leaf(entry: Any) -> str:
    """The leaf of a determined assistance (a dtks_contracts.institution.DeterminedAssistance), hex."""
    from dtks_contracts.register_hash import assistance_digest

    return assistance_leaf_hash(
        str(entry.institution_id), str(entry.proposal_id), assistance_digest(entry)
    ).hex()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleRootBuilder:
    """The root fed one leaf at a time (for a reader streaming an ordered query): a stack of the
    roots of complete subtrees, at most log2(n) of them, so memory does not grow with the register."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (leaves below, hash), sizes strictly decreasing
        self.size = 0

    def add(self, leaf: bytes) -> None:
        size, node = 1, leaf
        stack = self._stack
        while stack and stack[-1][0] == size:
            _, left = stack.pop()
            node = node_hash(left, node)
            size *= 2
        stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        # The unequal subtrees on the right fold from the right: RFC 6962's split gives exactly this.
        _, node = self._stack[-1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    builder = MerkleRootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


def _level_above(below: Sequence[bytes]) -> list[bytes]:
    above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
    if len(below) % 2:
        # A lone last node moves up unchanged: the same tree as RFC 6962's recursive split.
        above.append(below[-1])
    return above


def merkle_root_of_list(leaves: Sequence[bytes]) -> bytes:
    """The root of leaves already held in a list, a level at a time (two levels held at once):
    a fifth faster than :class:`MerkleRootBuilder`, for a reader holding the register anyway (the
    auditor recomputes every decree's root)."""
    level = leaves
    while len(level) > 1:
        level = _level_above(level)
    return level[0] if level else EMPTY_ROOT


class MerkleTree:
    """Every level of a tree held in memory, to answer proofs quickly (32 bytes x about 2n)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        levels: list[list[bytes]] = [list(leaves)]
        while len(levels[-1]) > 1:
            levels.append(_level_above(levels[-1]))
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _subtree_root(self, start: int, size: int) -> bytes:
        """The root of leaves [start, start + size): read from the levels where the subtree is a
        complete aligned one, else split as RFC 6962 does."""
        if size == 1:
            return self._levels[0][start]
        height = (size - 1).bit_length()
        if size == 1 << height and start % size == 0:
            return self._levels[height][start >> height]
        k = _split(size)
        return node_hash(self._subtree_root(start, k), self._subtree_root(start + k, size - k))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): the sibling hashes from the leaf up."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise IndexError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        start = 0
        while size > 1:
            k = _split(size)
            if index < k:
                path.append(self._subtree_root(start + k, size - k))
                size = k
            else:
                path.append(self._subtree_root(start, k))
                start, index, size = start + k, index - k, size - k
        path.reverse()
        return path


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162, 2.1.3.2); compare it with the signed one."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of {size} leaves")
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree is high")
    return node
