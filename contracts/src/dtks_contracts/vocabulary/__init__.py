"""The register's shared words: roles, tiers, proposal kinds, programs, reason codes, categories."""

from dtks_contracts.vocabulary.household_attributes import (
    ChronicIllness,
    CookingFuel,
    DisabilityType,
    DrinkingWaterSource,
    EducationLevel,
    FloorMaterial,
    IncomeBand,
    LightingSource,
    MaritalStatus,
    RelationToHead,
    RoofMaterial,
    Sanitation,
    Sex,
    TenureStatus,
    WallMaterial,
)
from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import (
    DeactivationReason,
    DeliberationKind,
    ProposalKind,
    ProposalOrigin,
)
from dtks_contracts.vocabulary.reasons import (
    AUTOMATIC_CODES,
    REASON_MESSAGES,
    REVIEW_CODES,
    ReasonCode,
    describe,
)
from dtks_contracts.vocabulary.roles import ROLE_REGION_LEVEL, Role
from dtks_contracts.vocabulary.tiers import (
    FIRST_TIER,
    TIER_ORDER,
    TIER_ROLE,
    IntegrityStage,
    Tier,
    next_tier,
    tier_region,
)

__all__ = [
    "AUTOMATIC_CODES",
    "FIRST_TIER",
    "REASON_MESSAGES",
    "REVIEW_CODES",
    "ROLE_REGION_LEVEL",
    "TIER_ORDER",
    "TIER_ROLE",
    "ChronicIllness",
    "CookingFuel",
    "DeactivationReason",
    "DeliberationKind",
    "DisabilityType",
    "DrinkingWaterSource",
    "EducationLevel",
    "FloorMaterial",
    "IncomeBand",
    "IntegrityStage",
    "LightingSource",
    "MaritalStatus",
    "NotificationChannel",
    "Program",
    "ProposalKind",
    "ProposalOrigin",
    "ReasonCode",
    "RelationToHead",
    "Role",
    "RoofMaterial",
    "Sanitation",
    "Sex",
    "TenureStatus",
    "Tier",
    "WallMaterial",
    "describe",
    "next_tier",
    "tier_region",
]
