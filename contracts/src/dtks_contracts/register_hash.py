"""The register hash a determination carries, defined here so anyone holding the register can check it.

A partner agency that folded `dtks.registry.public` up to a decree recomputes the hash over the
households it holds and compares it with the decree's `register_hash`: equal means it holds
exactly the register the Minister determined.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel

from dtks_contracts.household import Household
from dtks_contracts.institution import DeterminedAssistance, Institution

REGISTER_HASH_ALGORITHM: Final = (
    "dtks-register-sha256-v1: SHA-256 (lower-case hex) over the UTF-8 lines "
    "'<household_id>\\t<household digest>\\n' of every active household, sorted by household_id "
    "(code-point order); household digest = SHA-256 hex of the household snapshot as JSON with "
    "fields equal to their defaults omitted, keys sorted, separators ',' and ':', non-ASCII unescaped"
)


def canonical_json(model: BaseModel) -> bytes:
    # Omitting defaults keeps digests stable when a later contract version adds an optional field.
    data = model.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def household_digest(household: Household) -> str:
    return hashlib.sha256(canonical_json(household)).hexdigest()


class RegisterHasher:
    """The register hash fed one household at a time, in household_id order: for a reader that
    fetches an ordered query in chunks (between awaits) and so cannot hand over one iterable."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._previous: str | None = None

    def update(self, household_id: str, digest: str) -> None:
        previous = self._previous
        if previous is not None and household_id <= previous:
            raise ValueError(
                f"entries must be sorted by household_id without repeats: {household_id} after {previous}"
            )
        self._hasher.update(f"{household_id}\t{digest}\n".encode())
        self._previous = household_id

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def register_digest(entries: Iterable[tuple[str, str]]) -> str:
    """Hash of (household_id, household digest) pairs already sorted by household_id.

    Streams, so a registry can feed tens of millions of rows straight from an ordered query.
    """
    hasher = RegisterHasher()
    for household_id, digest in entries:
        hasher.update(household_id, digest)
    return hasher.hexdigest()


def register_digest_of(households: Iterable[Household]) -> str:
    """Hash of a register held in memory (sorted here)."""
    entries = []
    for household in households:
        if household.household_id is None:
            raise ValueError(f"household with KK {household.kk_number[:6]}... has no register id")
        entries.append((household.household_id, household_digest(household)))
    return register_digest(sorted(entries))


def register_root_of(
    households: Iterable[Household],
    institutions: Iterable[Institution] = (),
    assistance: Iterable[DeterminedAssistance] = (),
) -> str:
    """The Merkle root (dtks_contracts.merkle) of a register held in memory: what a decree records
    from version 2 of registry.determination_issued. Institutions, if any, form their own section
    after the households (dtks_contracts.merkle.INSTITUTION_SECTION); without them the root is the
    households' alone, as it always was. Determined assistance, if any, is the third section
    (dtks_contracts.merkle.ASSISTANCE_SECTION)."""
    from dtks_contracts.merkle import assistance_leaf_hash, institution_leaf_hash, leaf_hash, merkle_root

    entries = []
    for household in households:
        if household.household_id is None:
            raise ValueError(f"household with KK {household.kk_number[:6]}... has no register id")
        entries.append((household.household_id, household_digest(household)))
    section = []
    for institution in institutions:
        if institution.institution_id is None:
            raise ValueError(f"institution {institution.name!r} has no register id")
        section.append((institution.institution_id, institution_digest(institution)))
    leaves = [leaf_hash(i, d) for i, d in sorted(entries)]
    leaves += [institution_leaf_hash(i, d) for i, d in sorted(section)]
    given = sorted((a.institution_id, a.proposal_id, assistance_digest(a)) for a in assistance)
    leaves += [assistance_leaf_hash(i, p, d) for i, p, d in given]
    return merkle_root(leaves).hex()


def institution_digest(institution: Institution) -> str:
    return hashlib.sha256(canonical_json(institution)).hexdigest()


def assistance_digest(entry: DeterminedAssistance) -> str:
    return hashlib.sha256(canonical_json(entry)).hexdigest()
