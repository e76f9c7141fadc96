"""Who acts in the register, and at which level of region each role is scoped."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from dtks_contracts.regions import RegionLevel


class Role(StrEnum):
    VILLAGE_OPERATOR = "village_operator"  # enters and resubmits proposals
    DISTRICT_VERIFIER = "district_verifier"  # first verification tier
    REGENCY_OPERATOR = "regency_operator"  # the social service's verification and validation
    REGENT = "regent"  # ratifies the regency's verified batch by decree
    PROVINCE_VERIFIER = "province_verifier"  # checks and forwards to the Ministry
    MINISTRY_VERIFIER = "ministry_verifier"  # integrity standard, accepts or returns, opens windows
    MINISTRY_DETERMINER = "ministry_determiner"  # issues the determination decree
    AUDITOR = "auditor"  # reads and replays everything, changes nothing
    AGENCY = "agency"  # partner ministry or program: reads the determined register
    # An officer of a village welfare post (Puskesos / SLRT): files complaints on a citizen's behalf.
    WELFARE_POST_OPERATOR = "welfare_post_operator"
    # The operator of one social welfare institution (LKS): proposes its changes. Scoped to the
    # institution's village and, by the token's `institution` claim, to that one institution.
    INSTITUTION_OPERATOR = "institution_operator"


# The region level an actor of each role must carry. `None`: any level, as granted (agencies).
ROLE_REGION_LEVEL: Final[Mapping[Role, RegionLevel | None]] = MappingProxyType(
    {
        Role.VILLAGE_OPERATOR: "village",
        Role.DISTRICT_VERIFIER: "district",
        Role.REGENCY_OPERATOR: "regency",
        Role.REGENT: "regency",
        Role.PROVINCE_VERIFIER: "province",
        Role.MINISTRY_VERIFIER: "national",
        Role.MINISTRY_DETERMINER: "national",
        Role.AUDITOR: "national",
        Role.AGENCY: None,
        Role.WELFARE_POST_OPERATOR: "village",
        Role.INSTITUTION_OPERATOR: "village",
    }
)
