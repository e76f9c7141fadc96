"""Stable codes for why a proposal failed a check or was returned, with what to do about it.

Codes are part of the contract: programs and dashboards count them, so a code is never renamed or
removed, only added. The sentences are addressed to the village operator who must act.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class ReasonCode(StrEnum):
    # Integrity standard (a): each person's identity is unique.
    NIK_DUPLICATE_IN_PROPOSAL = "NIK_DUPLICATE_IN_PROPOSAL"
    NIK_ALREADY_REGISTERED = "NIK_ALREADY_REGISTERED"
    NIK_IN_OPEN_PROPOSAL = "NIK_IN_OPEN_PROPOSAL"
    KK_ALREADY_REGISTERED = "KK_ALREADY_REGISTERED"
    POSSIBLE_DUPLICATE_PERSON = "POSSIBLE_DUPLICATE_PERSON"
    # (b) agreement with the civil registry (Dukcapil).
    NIK_NOT_IN_CIVIL_REGISTRY = "NIK_NOT_IN_CIVIL_REGISTRY"
    NAME_MISMATCH = "NAME_MISMATCH"
    BIRTH_DATE_MISMATCH = "BIRTH_DATE_MISMATCH"
    SEX_MISMATCH = "SEX_MISMATCH"
    ADDRESS_MISMATCH = "ADDRESS_MISMATCH"
    NIK_ENCODING_MISMATCH = "NIK_ENCODING_MISMATCH"
    PERSON_DECEASED = "PERSON_DECEASED"
    # (c) grouping into the family (KK) with exactly one head.
    KK_MISMATCH = "KK_MISMATCH"
    NO_HEAD_OF_FAMILY = "NO_HEAD_OF_FAMILY"
    MULTIPLE_HEADS = "MULTIPLE_HEADS"
    # (d) no member identical to another.
    IDENTICAL_MEMBERS = "IDENTICAL_MEMBERS"
    # (e) complete and plausible attributes.
    MISSING_FIELD = "MISSING_FIELD"
    IMPLAUSIBLE_VALUE = "IMPLAUSIBLE_VALUE"
    # The proposal's target in the register.
    TARGET_HOUSEHOLD_NOT_FOUND = "TARGET_HOUSEHOLD_NOT_FOUND"
    TARGET_HOUSEHOLD_INACTIVE = "TARGET_HOUSEHOLD_INACTIVE"
    # Social welfare institutions (LKS): their residents and the institution a proposal refers to.
    RESIDENT_IN_ANOTHER_INSTITUTION = "RESIDENT_IN_ANOTHER_INSTITUTION"
    TARGET_INSTITUTION_NOT_FOUND = "TARGET_INSTITUTION_NOT_FOUND"
    # Windows and quotas the Ministry opens per regency.
    PROPOSAL_WINDOW_CLOSED = "PROPOSAL_WINDOW_CLOSED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    # Human verification at a tier.
    EVIDENCE_MISSING = "EVIDENCE_MISSING"
    EVIDENCE_UNCLEAR = "EVIDENCE_UNCLEAR"
    DELIBERATION_MISSING = "DELIBERATION_MISSING"
    NOT_ELIGIBLE_FIELD_VISIT = "NOT_ELIGIBLE_FIELD_VISIT"
    ADDRESS_NOT_FOUND = "ADDRESS_NOT_FOUND"
    DATA_INCONSISTENT = "DATA_INCONSISTENT"
    OTHER = "OTHER"


REASON_MESSAGES: Final[Mapping[ReasonCode, str]] = MappingProxyType(
    {
        ReasonCode.NIK_DUPLICATE_IN_PROPOSAL: (
            "The same NIK appears more than once in this proposal; keep each person once."
        ),
        ReasonCode.NIK_ALREADY_REGISTERED: (
            "This NIK already belongs to a registered household; propose a correction of that "
            "household instead of adding the person again."
        ),
        ReasonCode.NIK_IN_OPEN_PROPOSAL: (
            "This NIK is already in another proposal that is still being verified; wait for it "
            "to finish or withdraw one of the two."
        ),
        ReasonCode.KK_ALREADY_REGISTERED: (
            "This family card number is already registered; propose a correction of the "
            "registered household instead of a new one."
        ),
        ReasonCode.POSSIBLE_DUPLICATE_PERSON: (
            "A person with the same name and birth date is already registered in this district; "
            "confirm with the civil registry that these are different people."
        ),
        ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY: (
            "The civil registry does not know this NIK; check the number against the person's "
            "identity card or family card."
        ),
        ReasonCode.NAME_MISMATCH: (
            "The name differs from the civil registry; copy the name exactly as on the identity card."
        ),
        ReasonCode.BIRTH_DATE_MISMATCH: (
            "The birth date differs from the civil registry; copy it from the identity card or family card."
        ),
        ReasonCode.SEX_MISMATCH: "The sex differs from the civil registry; check it on the identity card.",
        ReasonCode.ADDRESS_MISMATCH: (
            "The address differs from the civil registry; ask the family to update it at the "
            "civil registry office, or correct the entry."
        ),
        ReasonCode.NIK_ENCODING_MISMATCH: (
            "The birth date or sex does not agree with the one encoded in the NIK (digits 7-12, "
            "women add 40 to the day); check both against the identity card."
        ),
        ReasonCode.PERSON_DECEASED: (
            "The civil registry records this person as deceased; remove the person, or propose "
            "a deactivation if no member is left."
        ),
        ReasonCode.KK_MISMATCH: (
            "According to the civil registry this person belongs to another family card; enter "
            "the members exactly as on the current family card."
        ),
        ReasonCode.NO_HEAD_OF_FAMILY: "No member is marked as head of the family; mark exactly one.",
        ReasonCode.MULTIPLE_HEADS: "More than one member is marked as head of the family; keep exactly one.",
        ReasonCode.IDENTICAL_MEMBERS: (
            "Two members carry identical data; remove the repeated entry or correct the member's data."
        ),
        ReasonCode.MISSING_FIELD: "A required item is missing; fill in the field named in the finding.",
        ReasonCode.IMPLAUSIBLE_VALUE: (
            "A value is out of the plausible range; check the field named in the finding and correct it."
        ),
        ReasonCode.TARGET_HOUSEHOLD_NOT_FOUND: (
            "The household this proposal refers to is not in the register; check the register id."
        ),
        ReasonCode.TARGET_HOUSEHOLD_INACTIVE: (
            "The household this proposal refers to is no longer active in the register; propose "
            "a new household if it should be registered again."
        ),
        ReasonCode.RESIDENT_IN_ANOTHER_INSTITUTION: (
            "This person is a resident of another institution (registered, or in a proposal still "
            "being verified); record the discharge there first, or remove the person here."
        ),
        ReasonCode.TARGET_INSTITUTION_NOT_FOUND: (
            "The institution this proposal refers to is not in the register; check the register id."
        ),
        ReasonCode.PROPOSAL_WINDOW_CLOSED: (
            "No proposal window is open for this regency now; submit again when the Ministry opens one."
        ),
        ReasonCode.QUOTA_EXCEEDED: (
            "The regency's quota for this window is used up; agree at the regency which proposals go first."
        ),
        ReasonCode.EVIDENCE_MISSING: (
            "Field-visit evidence is missing (photos of roof, floor, walls, head of household, or "
            "GPS position); add it from a field visit."
        ),
        ReasonCode.EVIDENCE_UNCLEAR: "The field-visit photos cannot be judged; take them again in daylight.",
        ReasonCode.DELIBERATION_MISSING: (
            "The village deliberation record (musdes/muskel minutes) is missing or does not list "
            "this household; attach the minutes."
        ),
        ReasonCode.NOT_ELIGIBLE_FIELD_VISIT: (
            "The field visit found the household not eligible; resubmit only with new evidence of "
            "its situation."
        ),
        ReasonCode.ADDRESS_NOT_FOUND: (
            "The household was not found at the address given; correct the address or GPS position."
        ),
        ReasonCode.DATA_INCONSISTENT: (
            "The data contradicts itself or the evidence; read the verifier's note and correct it."
        ),
        ReasonCode.OTHER: "See the verifier's note for what to correct.",
    }
)

# Found by machine: the integrity standard (at entry and at the Ministry) and the entry checks.
AUTOMATIC_CODES: Final[frozenset[ReasonCode]] = frozenset(
    {
        ReasonCode.NIK_DUPLICATE_IN_PROPOSAL,
        ReasonCode.NIK_ALREADY_REGISTERED,
        ReasonCode.NIK_IN_OPEN_PROPOSAL,
        ReasonCode.KK_ALREADY_REGISTERED,
        ReasonCode.POSSIBLE_DUPLICATE_PERSON,
        ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY,
        ReasonCode.NAME_MISMATCH,
        ReasonCode.BIRTH_DATE_MISMATCH,
        ReasonCode.SEX_MISMATCH,
        ReasonCode.ADDRESS_MISMATCH,
        ReasonCode.NIK_ENCODING_MISMATCH,
        ReasonCode.PERSON_DECEASED,
        ReasonCode.KK_MISMATCH,
        ReasonCode.NO_HEAD_OF_FAMILY,
        ReasonCode.MULTIPLE_HEADS,
        ReasonCode.IDENTICAL_MEMBERS,
        ReasonCode.MISSING_FIELD,
        ReasonCode.IMPLAUSIBLE_VALUE,
        ReasonCode.TARGET_HOUSEHOLD_NOT_FOUND,
        ReasonCode.TARGET_HOUSEHOLD_INACTIVE,
        ReasonCode.RESIDENT_IN_ANOTHER_INSTITUTION,
        ReasonCode.TARGET_INSTITUTION_NOT_FOUND,
        ReasonCode.PROPOSAL_WINDOW_CLOSED,
        ReasonCode.QUOTA_EXCEEDED,
    }
)

# Chosen by a person verifying at a tier.
REVIEW_CODES: Final[frozenset[ReasonCode]] = frozenset(ReasonCode) - AUTOMATIC_CODES


def describe(code: ReasonCode | str) -> str:
    """The operator-facing sentence for a code."""
    return REASON_MESSAGES[ReasonCode(code)]
