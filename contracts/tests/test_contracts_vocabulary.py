import pytest

from dtks_contracts.vocabulary import (
    AUTOMATIC_CODES,
    FIRST_TIER,
    REASON_MESSAGES,
    REVIEW_CODES,
    ROLE_REGION_LEVEL,
    TIER_ORDER,
    TIER_ROLE,
    Program,
    ReasonCode,
    Role,
    Tier,
    describe,
    is_tier_region,
    next_tier,
    tier_region,
    tier_region_length,
)


def test_tiers_run_in_the_order_of_the_process():
    assert TIER_ORDER == (Tier.DISTRICT, Tier.REGENCY, Tier.RATIFICATION, Tier.PROVINCE, Tier.MINISTRY)
    assert FIRST_TIER is Tier.DISTRICT
    assert next_tier(Tier.DISTRICT) is Tier.REGENCY
    assert next_tier(Tier.REGENCY) is Tier.RATIFICATION
    assert next_tier(Tier.RATIFICATION) is Tier.PROVINCE
    assert next_tier(Tier.PROVINCE) is Tier.MINISTRY
    assert next_tier(Tier.MINISTRY) is None
    assert next_tier("regency") is Tier.RATIFICATION  # type: ignore[arg-type]


def test_each_tier_has_its_role_and_region():
    assert set(TIER_ROLE) == set(Tier)
    assert TIER_ROLE[Tier.RATIFICATION] is Role.REGENT
    assert tier_region(Tier.DISTRICT, "17.71.01.1001") == "17.71.01"
    assert tier_region(Tier.REGENCY, "17.71.01.1001") == "17.71"
    assert tier_region(Tier.RATIFICATION, "17.71.01.1001") == "17.71"
    assert tier_region(Tier.PROVINCE, "17.71.01.1001") == "17"
    assert tier_region(Tier.MINISTRY, "17.71.01.1001") == "ID"
    with pytest.raises(ValueError, match="expected a village code"):
        tier_region(Tier.DISTRICT, "17.71.01")


def test_a_tiers_own_region_is_told_from_a_wider_one():
    village = "17.71.01.1001"
    for tier in Tier:
        own = tier_region(tier, village)
        assert is_tier_region(tier, own)
        assert tier_region_length(tier) == (None if own == "ID" else len(own))
    assert not is_tier_region(Tier.DISTRICT, "17.71")  # an auditor's regency over its districts
    assert not is_tier_region(Tier.DISTRICT, "ID")
    assert not is_tier_region(Tier.REGENCY, "17")
    assert not is_tier_region(Tier.MINISTRY, "17")
    assert is_tier_region(Tier.PROVINCE, "17")


def test_every_role_has_a_region_level_and_national_roles_are_national():
    assert set(ROLE_REGION_LEVEL) == set(Role)
    for role in (Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER, Role.AUDITOR):
        assert ROLE_REGION_LEVEL[role] == "national"
    assert ROLE_REGION_LEVEL[Role.AGENCY] is None


def test_every_reason_code_has_an_actionable_sentence_and_one_group():
    assert set(REASON_MESSAGES) == set(ReasonCode)
    for code, sentence in REASON_MESSAGES.items():
        assert sentence.endswith("."), code
        assert len(sentence) > 30, code
    assert AUTOMATIC_CODES.isdisjoint(REVIEW_CODES)
    assert set(ReasonCode) == AUTOMATIC_CODES | REVIEW_CODES
    assert ReasonCode.NOT_ELIGIBLE_FIELD_VISIT in REVIEW_CODES
    assert ReasonCode.NIK_ALREADY_REGISTERED in AUTOMATIC_CODES
    assert describe("NO_HEAD_OF_FAMILY") == REASON_MESSAGES[ReasonCode.NO_HEAD_OF_FAMILY]


def test_required_codes_and_programs_exist():
    required = {
        "NIK_DUPLICATE_IN_PROPOSAL",
        "NIK_ALREADY_REGISTERED",
        "NIK_IN_OPEN_PROPOSAL",
        "NIK_NOT_IN_CIVIL_REGISTRY",
        "NAME_MISMATCH",
        "BIRTH_DATE_MISMATCH",
        "KK_MISMATCH",
        "PERSON_DECEASED",
        "NO_HEAD_OF_FAMILY",
        "MULTIPLE_HEADS",
        "IDENTICAL_MEMBERS",
        "MISSING_FIELD",
        "IMPLAUSIBLE_VALUE",
        "EVIDENCE_MISSING",
        "NOT_ELIGIBLE_FIELD_VISIT",
        "ADDRESS_NOT_FOUND",
        "DATA_INCONSISTENT",
        "OTHER",
    }
    assert required <= {code.value for code in ReasonCode}
    assert {p.value for p in Program} == {"PKH", "BPNT", "PBI_JK", "PIP", "BLT", "ELECTRICITY_SUBSIDY"}
