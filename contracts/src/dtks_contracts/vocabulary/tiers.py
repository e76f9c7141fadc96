"""The verification tiers a proposal passes, in order, and who acts at each."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from dtks_contracts.regions import NATIONAL, check_region_code
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalSubject
from dtks_contracts.vocabulary.roles import Role


class Tier(StrEnum):
    DISTRICT = "district"
    REGENCY = "regency"  # the regency/city social service (Dinsos)
    RATIFICATION = "ratification"  # the regent's/mayor's decree over a verified batch
    PROVINCE = "province"
    MINISTRY = "ministry"


# The order is the process: a proposal is forwarded from each tier to the next, never skips one.
TIER_ORDER: Final[tuple[Tier, ...]] = (
    Tier.DISTRICT,
    Tier.REGENCY,
    Tier.RATIFICATION,
    Tier.PROVINCE,
    Tier.MINISTRY,
)
FIRST_TIER: Final = TIER_ORDER[0]

# The tiers each subject passes. An institution is licensed by the regency's social service, so it
# has no village, district or regent tier: the regency, the province, then the Ministry's directorate.
# Every path is a subsequence of TIER_ORDER, so "forwarded to the next tier" means the same thing.
TIER_PATHS: Final[Mapping[ProposalSubject, tuple[Tier, ...]]] = MappingProxyType(
    {
        ProposalSubject.HOUSEHOLD: TIER_ORDER,
        ProposalSubject.INSTITUTION: (Tier.REGENCY, Tier.PROVINCE, Tier.MINISTRY),
    }
)


def tier_path(kind: ProposalKind | str) -> tuple[Tier, ...]:
    """The tiers a proposal of `kind` passes, in order."""
    return TIER_PATHS[ProposalKind(kind).subject]


def first_tier(kind: ProposalKind | str) -> Tier:
    return tier_path(kind)[0]


TIER_ROLE: Final[Mapping[Tier, Role]] = MappingProxyType(
    {
        Tier.DISTRICT: Role.DISTRICT_VERIFIER,
        Tier.REGENCY: Role.REGENCY_OPERATOR,
        Tier.RATIFICATION: Role.REGENT,
        Tier.PROVINCE: Role.PROVINCE_VERIFIER,
        Tier.MINISTRY: Role.MINISTRY_VERIFIER,
    }
)

# How many leading characters of a village code name the region responsible at each tier.
_SCOPE_LENGTH: Final[Mapping[Tier, int]] = MappingProxyType(
    {Tier.DISTRICT: 8, Tier.REGENCY: 5, Tier.RATIFICATION: 5, Tier.PROVINCE: 2}
)


def next_tier(tier: Tier, kind: ProposalKind | str = ProposalKind.NEW_HOUSEHOLD) -> Tier | None:
    """The tier a proposal of `kind` is forwarded to; `None` after the Ministry (acceptance)."""
    path = tier_path(kind)
    index = path.index(Tier(tier))  # a tier not on the kind's path raises ValueError
    return path[index + 1] if index + 1 < len(path) else None


def tier_region(tier: Tier, village_code: str) -> str:
    """The region whose officers act at `tier` for a proposal from `village_code`."""
    check_region_code(village_code, levels=("village",), must_exist=False)
    tier = Tier(tier)
    if tier is Tier.MINISTRY:
        return NATIONAL
    return village_code[: _SCOPE_LENGTH[tier]]


def is_tier_region(tier: Tier, region: str) -> bool:
    """Whether `region` is a region of `tier`'s officers itself ('17.71.01' at the district tier, 'ID'
    at the Ministry's), not a wider one holding several (an auditor's province at the district tier)."""
    tier = Tier(tier)
    if tier is Tier.MINISTRY:
        return region == NATIONAL
    return region != NATIONAL and len(region) == _SCOPE_LENGTH[tier]


def tier_region_length(tier: Tier) -> int | None:
    """How many leading characters of a village code name `tier`'s region (None: the whole country)."""
    tier = Tier(tier)
    return None if tier is Tier.MINISTRY else _SCOPE_LENGTH[tier]


class IntegrityStage(StrEnum):
    """When the automatic integrity standard runs: as a proposal enters, and again at the Ministry."""

    ENTRY = "entry"
    MINISTRY = "ministry"
