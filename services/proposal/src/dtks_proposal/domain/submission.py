"""What a village operator submits (*pengusulan*), and the checks made at the door.

The body of ``POST /proposals`` is the shape inter-agency clients code against: the household is
the contracts :class:`~dtks_contracts.household.Household`; the deliberation names its meeting date
``held_on``; a deactivation's reason uses the operator's words (``died``, ``moved``, ``ineligible``,
``duplicate``, ``not_found``). Structure and identifier formats are checked by the models; the
rules that need the whole proposal (one head, no NIK twice, fields required by kind) are in
:func:`door_errors`, so every error names its field. Deeper checks (civil registry, duplicates in
the register) belong to verification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.proposal import ProposalResubmitted, ProposalSubmitted
from dtks_contracts.household import Deliberation, FieldVisit, Household
from dtks_contracts.identifiers import EntityId
from dtks_contracts.institution import Assistance, Institution
from dtks_contracts.regions import VillageCode
from dtks_contracts.text import FreeText, LineCheck, Reference, SafeStr
from dtks_contracts.vocabulary.household_attributes import RelationToHead
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import (
    DeactivationReason,
    DeliberationKind,
    ProposalKind,
    ProposalOrigin,
    ProposalSubject,
)

# Fingerprints made since the second release start with this; the first release's (sha256 of the
# dumped dict as JSON with sorted keys) may still be stored beside answers, and still match.
FINGERPRINT_PREFIX = "2:"

Note = FreeText
# As the contract's field (ProposalContent.civil_registry_ref) bounds it.
CivilRegistryRef = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), LineCheck
]

# The operator's words for why a household leaves the register, and the contracts' own values.
DEACTIVATION_WORDS: dict[str, DeactivationReason] = {
    "died": DeactivationReason.DIED,
    "moved": DeactivationReason.MOVED_AWAY,
    "ineligible": DeactivationReason.NO_LONGER_ELIGIBLE,
    "duplicate": DeactivationReason.DUPLICATE,
    "not_found": DeactivationReason.NOT_FOUND,
    **{reason.value: reason for reason in DeactivationReason},
}


class DeliberationIn(BaseModel):
    """The village (musdes) or urban-village (muskel) meeting that agreed the proposal."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: DeliberationKind
    held_on: dt.date
    minutes_ref: Reference

    @model_validator(mode="before")
    @classmethod
    def _date_alias(cls, data: Any) -> Any:
        # Clients that dump the contracts Deliberation send its field name, "date".
        if isinstance(data, dict) and "date" in data and "held_on" not in data:
            data = {**data, "held_on": data["date"]}
            del data["date"]
        return data

    def to_contract(self) -> Deliberation:
        return Deliberation(kind=self.kind, date=self.held_on, minutes_ref=self.minutes_ref)


class ProposalIn(BaseModel):
    """One proposal as a client sends it. ``household.village_code`` may be left out: it is the
    proposal's ``village_code``."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={
            "example": {
                "proposal_id": "2f6c1d1e-8a4b-4c4e-9a57-3d2b0c1f9e10",
                "kind": "new_household",
                "village_code": "17.71.01.1001",
                "deliberation": {"kind": "muskel", "held_on": "2026-11-02", "minutes_ref": "BA-07/XI/2026"},
                "household": {
                    "kk_number": "1771010211200003",
                    "address": {"street": "Jl. Merapi No. 12", "rt": "003", "rw": "001"},
                    "members": [
                        {
                            "nik": "1771011204780001",
                            "name": "Budi Santoso",
                            "birth_date": "1978-04-12",
                            "sex": "male",
                            "relation_to_head": "head",
                        }
                    ],
                    "housing": {"floor_material": "earth", "roof_material": "thatch", "floor_area_m2": 24},
                    "contact": {"phone": "+6281234567890", "consent": True},
                },
                "programs": ["PKH", "BPNT"],
            }
        },
    )

    proposal_id: EntityId | None = Field(
        default=None, description="The client's own id; a retry with the same id is the same submission"
    )
    kind: ProposalKind
    village_code: VillageCode
    deliberation: DeliberationIn | None = Field(
        default=None, description="Households' proposals: the village meeting that agreed it (required)"
    )
    household: Household | None = Field(default=None, description="New households and corrections")
    household_id: EntityId | None = Field(
        default=None, description="Corrections and deactivations: the registered household concerned"
    )
    reason: SafeStr | None = Field(
        default=None,
        max_length=200,
        description="Deactivations: died, moved, ineligible, duplicate or not_found",
    )
    evidence_note: Note | None = Field(default=None, description="Deactivations: what shows the reason")
    programs: list[Program] = Field(default_factory=list, description="Programs requested")
    # Social welfare institutions (LKS). Left out of the dump when empty, so a household proposal's
    # fingerprint (and so the answers kept under it before these fields existed) is unchanged.
    institution: Institution | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="An institution's registration and changes: the institution with its residents",
    )
    institution_id: EntityId | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="An institution's changes and closure: the registered institution concerned",
    )
    closure_reason: ClosureReason | None = Field(
        default=None, exclude_if=lambda value: value is None, description="An institution's closure"
    )
    assistance: Assistance | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="An institution's assistance: program, period (starts_on and ends_on, or quarter like "
        "'2027-Q2'), basis per_resident (naming the residents) or per_institution",
    )
    # Added with life-event drafts (#17): left out of the dump when absent, so the fingerprint of a
    # proposal without it (and the answers kept under it) is what it was.
    civil_registry_ref: CivilRegistryRef | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Corrections and deactivations made from a civil-registry life event: its id",
    )

    @model_validator(mode="before")
    @classmethod
    def _institution_in_its_village(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("institution"), dict):
            institution = data["institution"]
            if "village_code" not in institution and "village_code" in data:
                data = {**data, "institution": {**institution, "village_code": data["village_code"]}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _household_in_its_village(cls, data: Any) -> Any:
        # The village is said once, at the top; the contracts household repeats it.
        if isinstance(data, dict) and isinstance(data.get("household"), dict):
            household = data["household"]
            if "village_code" not in household and "village_code" in data:
                data = {**data, "household": {**household, "village_code": data["village_code"]}}
        return data

    def fingerprint(self) -> str:
        """A hash of what the proposal says, to tell a retry from a different request.

        The model's own JSON is canonical: fields come in their declared order and no field is a
        free-form map, so the same proposal sent with its keys in another order or other spacing
        hashes the same. Serialized by pydantic's core rather than ``json.dumps`` of a dumped dict:
        this was 7% of the service's CPU per submission.
        """
        return FINGERPRINT_PREFIX + hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def same_as(self, stored: str) -> bool:
        """Whether a stored fingerprint is this proposal's, in either form (see FINGERPRINT_PREFIX)."""
        if stored.startswith(FINGERPRINT_PREFIX):
            return stored == self.fingerprint()
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return stored == hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class VisitBasis:
    """What a proposal made from a re-verification round's field visit rests on, in place of a
    village meeting: its round, the registered household visited and, for a correction, the visit's
    evidence (the household's field_visit). A resubmission keeps all three."""

    round_id: str
    household_id: str | None
    field_visit: dict[str, Any] | None = None

    @classmethod
    def of(cls, content: Mapping[str, Any]) -> VisitBasis | None:
        """The basis of a stored proposal's content, None if it was not made from a visit."""
        round_id = content.get("reverification_round_id")
        if content.get("origin") != ProposalOrigin.RE_VERIFICATION.value or not round_id:
            return None
        household = content.get("household") or {}
        return cls(str(round_id), content.get("target_household_id"), household.get("field_visit"))


class ResubmissionIn(ProposalIn):
    """A returned proposal, corrected: the full content again, and what was changed."""

    correction_note: Note | None = None


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    reason: Note

    def fingerprint(self) -> str:
        return hashlib.sha256(self.reason.encode()).hexdigest()

    def same_as(self, stored: str) -> bool:
        return stored == self.fingerprint()


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.code}


def door_errors(proposal: ProposalIn, basis: VisitBasis | None = None) -> list[FieldError]:
    """Every rule of the door the models alone cannot state, each naming its field. A proposal
    resting on a round's visit (``basis``) names no village meeting.

    Over 60 lines because it is the list of those rules, one after another, each with the sentence
    the operator reads (as :func:`household_errors`)."""
    if proposal.kind.subject is ProposalSubject.INSTITUTION:
        return institution_door_errors(proposal)
    errors: list[FieldError] = []
    for name, value in (
        ("institution", proposal.institution),
        ("institution_id", proposal.institution_id),
        ("closure_reason", proposal.closure_reason),
        ("assistance", proposal.assistance),
    ):
        if value is not None:
            errors.append(
                FieldError(name, f"Only an institution's proposals carry {name}; remove it.", "forbidden")
            )
    if basis is not None:
        if proposal.deliberation is not None:
            errors.append(
                FieldError(
                    "deliberation",
                    "This proposal rests on its re-verification visit, not a village meeting; remove it.",
                    "forbidden",
                )
            )
    elif proposal.deliberation is None:
        errors.append(
            FieldError("deliberation", "Name the village meeting (musdes/muskel) that agreed it.", "missing")
        )
    kind = proposal.kind
    if kind is ProposalKind.NEW_HOUSEHOLD and proposal.civil_registry_ref is not None:
        errors.append(
            FieldError(
                "civil_registry_ref",
                "Only a correction or deactivation made from a life event names it; remove it.",
                "forbidden",
            )
        )
    if kind is ProposalKind.DEACTIVATION:
        if proposal.household is not None:
            errors.append(
                FieldError("household", "A deactivation carries no household; remove it.", "forbidden")
            )
        if proposal.household_id is None:
            errors.append(
                FieldError("household_id", "Name the registered household to deactivate.", "missing")
            )
        if proposal.reason is None:
            errors.append(
                FieldError("reason", "Say why: died, moved, ineligible, duplicate or not_found.", "missing")
            )
        elif proposal.reason not in DEACTIVATION_WORDS:
            errors.append(
                FieldError(
                    "reason", "Use one of died, moved, ineligible, duplicate, not_found.", "invalid_choice"
                )
            )
        if proposal.evidence_note is None:
            errors.append(
                FieldError(
                    "evidence_note",
                    "Say what shows the reason (e.g. the death certificate number).",
                    "missing",
                )
            )
        return errors
    for name, value in (("reason", proposal.reason), ("evidence_note", proposal.evidence_note)):
        if value is not None:
            errors.append(FieldError(name, f"Only deactivations carry {name}; remove it.", "forbidden"))
    if kind is ProposalKind.NEW_HOUSEHOLD and proposal.household_id is not None:
        errors.append(
            FieldError("household_id", "A new household has no register id yet; remove it.", "forbidden")
        )
    if kind is ProposalKind.CORRECTION and proposal.household_id is None:
        errors.append(FieldError("household_id", "Name the registered household to correct.", "missing"))
    household = proposal.household
    if household is None:
        errors.append(
            FieldError("household", f"A {kind} proposal needs the household with its members.", "missing")
        )
        return errors
    errors += household_errors(household, proposal.village_code, proposal.household_id, kind)
    return errors


def institution_door_errors(proposal: ProposalIn, today: dt.date | None = None) -> list[FieldError]:
    """The door of an institution's proposal: what its kind needs and nothing of a household's;
    then, for a registration or a change, the record itself (:func:`_institution_record_errors`).
    Over 60 lines because, as :func:`household_errors`, it is the list of those rules one after
    another, each with the sentence the operator reads."""
    errors: list[FieldError] = []
    kind = proposal.kind
    for name, value in (
        ("deliberation", proposal.deliberation),
        ("household", proposal.household),
        ("household_id", proposal.household_id),
        ("reason", proposal.reason),
        ("civil_registry_ref", proposal.civil_registry_ref),
    ):
        if value is not None:
            errors.append(
                FieldError(name, f"An institution's proposal carries no {name}; remove it.", "forbidden")
            )
    if proposal.programs:
        errors.append(
            FieldError("programs", "Institutions' assistance is proposed apart; remove it.", "forbidden")
        )
    if kind is ProposalKind.INSTITUTION_REGISTRATION and proposal.institution_id is not None:
        errors.append(
            FieldError("institution_id", "A new institution has no register id yet; remove it.", "forbidden")
        )
    if kind is not ProposalKind.INSTITUTION_REGISTRATION and proposal.institution_id is None:
        errors.append(FieldError("institution_id", "Name the registered institution concerned.", "missing"))
    if kind is ProposalKind.INSTITUTION_ASSISTANCE:
        return errors + _assistance_door_errors(proposal)
    if proposal.assistance is not None:
        errors.append(
            FieldError(
                "assistance", "Only an assistance proposal carries assistance; remove it.", "forbidden"
            )
        )
    if kind is ProposalKind.INSTITUTION_CLOSURE:
        if proposal.institution is not None:
            errors.append(
                FieldError("institution", "A closure carries no institution; remove it.", "forbidden")
            )
        if proposal.closure_reason is None:
            errors.append(
                FieldError(
                    "closure_reason",
                    "Say why: dissolved, licence_revoked, merged or not_found.",
                    "missing",
                )
            )
        if proposal.evidence_note is None:
            errors.append(
                FieldError(
                    "evidence_note", "Say what shows the reason (e.g. the revocation decree).", "missing"
                )
            )
        return errors
    if proposal.closure_reason is not None:
        errors.append(
            FieldError("closure_reason", "Only closures carry closure_reason; remove it.", "forbidden")
        )
    if proposal.evidence_note is not None:
        errors.append(
            FieldError("evidence_note", "Only closures carry evidence_note; remove it.", "forbidden")
        )
    institution = proposal.institution
    if institution is None:
        errors.append(FieldError("institution", f"A {kind} proposal needs the institution.", "missing"))
        return errors
    return errors + _institution_record_errors(proposal, institution, today or dt.date.today())


def _assistance_door_errors(proposal: ProposalIn) -> list[FieldError]:
    """An assistance names the registered institution and the assistance, nothing else; whether the
    register's institution may receive it is checked apart (domain/assistance.py)."""
    errors = [
        FieldError(name, f"An assistance proposal carries no {name}; remove it.", "forbidden")
        for name, value in (
            ("institution", proposal.institution),
            ("closure_reason", proposal.closure_reason),
            ("evidence_note", proposal.evidence_note),
        )
        if value is not None
    ]
    if proposal.assistance is None:
        errors.append(
            FieldError(
                "assistance",
                "Say the program, the period (starts_on, ends_on) and the basis (per_resident naming the "
                "residents, or per_institution).",
                "missing",
            )
        )
    return errors


def _institution_record_errors(
    proposal: ProposalIn, institution: Institution, today: dt.date
) -> list[FieldError]:
    """The record of a registered or changed institution: its village, its id, its accreditation
    and its residents.

    An accreditation already expired on the day of entry is refused: the record would claim a
    grade that no longer holds (send the renewed one, or none while it is being renewed).

    Over 60 lines because it is the list of the record's rules, one after another, each with the
    sentence the operator reads (as :func:`household_errors`)."""
    errors: list[FieldError] = []
    kind = proposal.kind
    if institution.village_code != proposal.village_code:
        errors.append(
            FieldError(
                "institution.village_code",
                f"The institution is in {institution.village_code}, the proposal in {proposal.village_code}; "
                "use one village.",
                "mismatch",
            )
        )
    if kind is ProposalKind.INSTITUTION_REGISTRATION and institution.institution_id is not None:
        errors.append(
            FieldError(
                "institution.institution_id",
                "A new institution has no register id yet; remove it.",
                "forbidden",
            )
        )
    if (
        institution.institution_id not in (None, proposal.institution_id)
        and kind is ProposalKind.INSTITUTION_CHANGE
    ):
        errors.append(
            FieldError(
                "institution.institution_id",
                "It must equal institution_id, the institution changed.",
                "mismatch",
            )
        )
    accreditation = institution.accreditation
    if accreditation is not None and not accreditation.valid_on(today):
        errors.append(
            FieldError(
                "institution.accreditation.valid_until",
                f"The accreditation expired on {accreditation.valid_until.isoformat()}; send the renewed "
                "accreditation, or none while it is renewed.",
                "accreditation_expired",
            )
        )
    seen: dict[str, int] = {}
    for i, resident in enumerate(institution.residents):
        if resident.nik in seen:
            errors.append(
                FieldError(
                    f"institution.residents[{i}].nik",
                    f"This NIK is already given to resident {seen[resident.nik]}; each person appears once.",
                    "duplicate_nik",
                )
            )
        else:
            seen[resident.nik] = i
    if len(institution.current_residents(today)) > institution.capacity:
        errors.append(
            FieldError(
                "institution.residents",
                f"More current residents than the capacity of {institution.capacity}; check both.",
                "over_capacity",
            )
        )
    return errors


def household_errors(
    household: Household, village_code: str, household_id: str | None, kind: ProposalKind
) -> list[FieldError]:
    """Integrity rules a village operator can fix before sending: one head, no NIK twice.

    Over 60 lines because it is the list of those rules, one after another, each with the sentence
    the operator reads; split up, the rules would no longer read as one list."""
    errors: list[FieldError] = []
    if household.village_code != village_code:
        errors.append(
            FieldError(
                "household.village_code",
                f"The household is in {household.village_code}, the proposal in {village_code}; use one village.",
                "mismatch",
            )
        )
    heads = [i for i, m in enumerate(household.members) if m.relation_to_head is RelationToHead.HEAD]
    if not heads:
        errors.append(
            FieldError("household.members", "Mark exactly one member as relation_to_head 'head'.", "no_head")
        )
    for i in heads[1:]:
        errors.append(
            FieldError(
                f"household.members[{i}].relation_to_head",
                "A family has exactly one head; this is a second one.",
                "multiple_heads",
            )
        )
    seen = Counter(m.nik for m in household.members)
    first: dict[str, int] = {}
    for i, m in enumerate(household.members):
        if seen[m.nik] > 1:
            if m.nik in first:
                errors.append(
                    FieldError(
                        f"household.members[{i}].nik",
                        f"This NIK is already given to member {first[m.nik]}; each person appears once.",
                        "duplicate_nik",
                    )
                )
            else:
                first[m.nik] = i
    if household.welfare_decile is not None:
        errors.append(
            FieldError(
                "household.welfare_decile", "The welfare decile is set centrally; leave it out.", "forbidden"
            )
        )
    if kind is ProposalKind.NEW_HOUSEHOLD and household.household_id is not None:
        errors.append(
            FieldError(
                "household.household_id", "A new household has no register id yet; remove it.", "forbidden"
            )
        )
    if (
        kind is ProposalKind.CORRECTION
        and household.household_id is not None
        and household.household_id != household_id
    ):
        errors.append(
            FieldError(
                "household.household_id", "It must equal household_id, the household corrected.", "mismatch"
            )
        )
    return errors


def _content_fields(
    proposal: ProposalIn,
    proposal_id: str,
    round_: int,
    actor: Actor,
    idempotency_key: str | None,
    basis: VisitBasis | None = None,
) -> dict[str, Any]:
    if proposal.kind.subject is ProposalSubject.INSTITUTION:
        return _institution_content_fields(proposal, proposal_id, round_, actor, idempotency_key)
    household = proposal.household
    if household is not None and proposal.kind is ProposalKind.CORRECTION and household.household_id is None:
        household = household.model_copy(update={"household_id": proposal.household_id})
    if household is not None and basis is not None and household.field_visit is None and basis.field_visit:
        # The visit stays the correction's evidence unless the officer names a newer one.
        household = household.model_copy(update={"field_visit": FieldVisit.model_validate(basis.field_visit)})
    round_fields = (
        {"origin": ProposalOrigin.RE_VERIFICATION, "reverification_round_id": basis.round_id}
        if basis is not None
        else {"origin": ProposalOrigin.VILLAGE}
    )
    return {
        "proposal_id": proposal_id,
        "round": round_,
        "kind": proposal.kind,
        **round_fields,
        "village_code": proposal.village_code,
        "deliberation": proposal.deliberation.to_contract() if proposal.deliberation else None,
        "household": household,
        "target_household_id": proposal.household_id,
        "deactivation_reason": DEACTIVATION_WORDS[proposal.reason] if proposal.reason else None,
        "evidence_note": proposal.evidence_note,
        "programs_requested": tuple(sorted(set(proposal.programs))),
        "civil_registry_ref": proposal.civil_registry_ref,
        "submitted_by": actor,
        "idempotency_key": idempotency_key,
    }


def _institution_content_fields(
    proposal: ProposalIn, proposal_id: str, round_: int, actor: Actor, idempotency_key: str | None
) -> dict[str, Any]:
    institution = proposal.institution
    if institution is not None and proposal.kind is ProposalKind.INSTITUTION_CHANGE:
        institution = institution.model_copy(update={"institution_id": proposal.institution_id})
    return {
        "proposal_id": proposal_id,
        "round": round_,
        "kind": proposal.kind,
        "origin": ProposalOrigin.SOCIAL_SERVICE,
        "village_code": proposal.village_code,
        "institution": institution,
        "target_institution_id": proposal.institution_id,
        "closure_reason": proposal.closure_reason,
        "assistance": proposal.assistance,
        "evidence_note": proposal.evidence_note,
        "submitted_by": actor,
        "idempotency_key": idempotency_key,
    }


def submitted_event(
    proposal: ProposalIn, proposal_id: str, actor: Actor, idempotency_key: str | None
) -> ProposalSubmitted:
    """The ``proposal.submitted`` payload; call only after :func:`door_errors` found nothing."""
    return ProposalSubmitted(**_content_fields(proposal, proposal_id, 1, actor, idempotency_key))


def resubmitted_event(
    proposal: ResubmissionIn,
    proposal_id: str,
    round_: int,
    actor: Actor,
    idempotency_key: str | None,
    basis: VisitBasis | None = None,
) -> ProposalResubmitted:
    return ProposalResubmitted(
        **_content_fields(proposal, proposal_id, round_, actor, idempotency_key, basis),
        correction_note=proposal.correction_note,
    )
