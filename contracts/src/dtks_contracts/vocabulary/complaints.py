"""Complaints citizens bring to the village (directly or through its welfare post), and the coded
reasons a village operator closes one with.

Codes are part of the contract (recap statistics count complaints by kind and outcome): never
renamed or removed, only added. The sentences are what the complainant is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class ComplaintKind(StrEnum):
    EXCLUSION = "exclusion"  # "our household should be in the register"
    INCLUSION = "inclusion"  # "this household should not be in it" (names a household or NIK)
    DATA_ERROR = "data_error"  # a wrong or outdated record
    PROPOSAL_HANDLING = "proposal_handling"  # how a proposal is handled (names the proposal)


class ComplaintChannel(StrEnum):
    PUBLIC_FORM = "public_form"  # the citizen, without sign-in
    WELFARE_POST = "welfare_post"  # a welfare post officer on the citizen's behalf


class ComplaintClosingReason(StrEnum):
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NOT_IN_VILLAGE = "NOT_IN_VILLAGE"
    DUPLICATE_COMPLAINT = "DUPLICATE_COMPLAINT"
    NO_ERROR_FOUND = "NO_ERROR_FOUND"
    COMPLAINANT_UNREACHABLE = "COMPLAINANT_UNREACHABLE"
    WITHDRAWN_BY_COMPLAINANT = "WITHDRAWN_BY_COMPLAINANT"
    # Set by the system, not chosen by an operator: the linked proposal reached its decree.
    RESOLVED_BY_DECREE = "RESOLVED_BY_DECREE"


CLOSING_MESSAGES: Final[Mapping[ComplaintClosingReason, str]] = MappingProxyType(
    {
        ComplaintClosingReason.ALREADY_REGISTERED: "The household is already in the register as asked.",
        ComplaintClosingReason.NOT_ELIGIBLE: (
            "The village found the household not eligible; a new complaint with new evidence is welcome."
        ),
        ComplaintClosingReason.NOT_IN_VILLAGE: (
            "The household does not live in this village; file the complaint in the village where it lives."
        ),
        ComplaintClosingReason.DUPLICATE_COMPLAINT: "The same matter is already handled under another complaint.",
        ComplaintClosingReason.NO_ERROR_FOUND: "The village checked the record and found it correct.",
        ComplaintClosingReason.COMPLAINANT_UNREACHABLE: (
            "The village could not reach the complainant; file again with a phone number that answers."
        ),
        ComplaintClosingReason.WITHDRAWN_BY_COMPLAINANT: "The complainant withdrew the complaint.",
        ComplaintClosingReason.RESOLVED_BY_DECREE: (
            "The proposal made from the complaint was decided in the Minister's determination decree."
        ),
    }
)

# What an operator may choose when closing by hand.
OPERATOR_CLOSING_REASONS: Final[frozenset[ComplaintClosingReason]] = frozenset(ComplaintClosingReason) - {
    ComplaintClosingReason.RESOLVED_BY_DECREE
}


class DraftDismissalReason(StrEnum):
    """Why a village operator dismissed a draft a civil-registry life event opened (instead of
    confirming the proposal it calls for). Codes are part of the contract: only ever added."""

    NOT_IN_HOUSEHOLD = "NOT_IN_HOUSEHOLD"  # the person does not live in the household as the village knows it
    STILL_IN_HOUSEHOLD = "STILL_IN_HOUSEHOLD"  # moved on paper only: still lives in the household
    CIVIL_RECORD_WRONG = "CIVIL_RECORD_WRONG"  # the civil registry's record is wrong; reported to it
    ALREADY_PROPOSED = "ALREADY_PROPOSED"  # a proposal of the village already makes this change
    ALREADY_IN_REGISTER = "ALREADY_IN_REGISTER"  # the register already shows the change
    DUPLICATE_DRAFT = "DUPLICATE_DRAFT"  # another draft calls for the same change


# What the operator is told beside each reason when choosing it.
DISMISSAL_HINTS: Final[Mapping[DraftDismissalReason, str]] = MappingProxyType(
    {
        DraftDismissalReason.NOT_IN_HOUSEHOLD: (
            "The person is not a member of this household as the village knows it; nothing to change here."
        ),
        DraftDismissalReason.STILL_IN_HOUSEHOLD: (
            "The move is on paper only: the person still lives in the household, which stays as it is."
        ),
        DraftDismissalReason.CIVIL_RECORD_WRONG: (
            "The civil registry's record is wrong (the person lives, the child is not of this family...); "
            "report it to the civil registry office."
        ),
        DraftDismissalReason.ALREADY_PROPOSED: (
            "The village has already proposed this change; the proposal already running covers it."
        ),
        DraftDismissalReason.ALREADY_IN_REGISTER: "The register already shows this change.",
        DraftDismissalReason.DUPLICATE_DRAFT: "Another draft in the queue calls for the same change.",
    }
)
