"""The integrity standard (standar integritas data), applied at entry and again at the Ministry.

Pure functions: everything they need from the register, the other open proposals and the civil
registry is handed in as plain data, so every rule is unit-tested in milliseconds. Each finding
carries a stable `ReasonCode`, the operator-facing sentence of that code plus the specifics, the
field it concerns and, for a person, the member's NIK.

(a) unique identity: no NIK twice in the proposal, against the register, or against an open
    proposal submitted earlier (the earlier one keeps its claim, so exactly one of two clashing
    proposals is returned, whatever order the checks run in); no new household on a family card
    that is already registered; a person with the same name and birth date in the same district
    is flagged as a possible duplicate;
(b) agreement with the civil registry: NIK known, name (see `names`), birth date, sex, alive,
    family card, village; and the birth date and sex encoded in the NIK itself;
(c) exactly one head of the family;
(d) no two members with identical data;
(e) complete and plausible attributes.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from dtks_contracts.events.proposal import ProposalContent
from dtks_contracts.events.verification import Finding, Flag
from dtks_contracts.household import Household, Member
from dtks_contracts.identifiers import nik_matches
from dtks_contracts.institution import Institution
from dtks_contracts.vocabulary import ProposalKind, ReasonCode, RelationToHead, Sex
from dtks_verification.domain.names import name_key, names_agree


@dataclass(frozen=True, slots=True)
class CivilPerson:
    """What the civil registry (Dukcapil) holds about one NIK."""

    nik: str
    name: str
    birth_date: dt.date
    sex: Sex
    kk_number: str
    village_code: str | None
    alive: bool


@dataclass(frozen=True)
class RegisterFacts:
    """What the read models know that concerns one proposal's people and family card."""

    # NIK -> register id of the active household that holds it.
    registered_niks: Mapping[str, str] = field(default_factory=dict)
    # KK number -> register id of the active household on that card.
    registered_kks: Mapping[str, str] = field(default_factory=dict)
    # Register id -> active? (for the target of corrections and deactivations).
    households: Mapping[str, bool] = field(default_factory=dict)
    # NIK -> id of another open proposal, submitted earlier, that holds it.
    earlier_open_proposals: Mapping[str, str] = field(default_factory=dict)
    # Proposed NIK -> a registered person's NIK with the same name key, birth date and district.
    namesakes: Mapping[str, str] = field(default_factory=dict)
    # Institutions (LKS). Resident's NIK -> where else the person is a current resident: a registered
    # institution's id, or an earlier open proposal of another institution.
    residents_elsewhere: Mapping[str, str] = field(default_factory=dict)
    # Register id -> active? (for the target of an institution's change or closure).
    institutions: Mapping[str, bool] = field(default_factory=dict)
    # Resident's NIK -> the registered (active) household the person is also a member of.
    resident_households: Mapping[str, str] = field(default_factory=dict)
    # Member's NIK -> the registered (active) institution the person is a current resident of.
    member_institutions: Mapping[str, str] = field(default_factory=dict)


# What a proposed household must state: the housing and income items programs select on.
REQUIRED_HOUSING: Final = ("floor_material", "wall_material", "roof_material")
MAX_AGE_YEARS: Final = 120
MIN_HEAD_AGE_YEARS: Final = 12
MIN_GENERATION_GAP_YEARS: Final = 10
MAX_MEMBERS: Final = 30
MAX_FLOOR_AREA_M2: Final = 5000.0


def people_to_look_up(content: ProposalContent) -> tuple[str, ...]:
    """The NIKs whose civil-registry records the check needs."""
    if content.institution is not None:
        return tuple(dict.fromkeys(r.nik for r in content.institution.residents))
    if content.household is None:
        return ()
    return tuple(dict.fromkeys(m.nik for m in content.household.members))


def check_proposal(
    content: ProposalContent,
    register: RegisterFacts,
    civil: Mapping[str, CivilPerson | None],
    today: dt.date,
) -> tuple[Finding, ...]:
    """All findings of the integrity standard on one proposal; empty means it passes."""
    findings: list[Finding] = []
    findings += _target(content, register)
    household = content.household
    if household is not None:
        findings += _unique_identity(content.kind, household, content.target_household_id, register)
        findings += _civil_registry_agreement(household, civil)
        findings += _one_head(household)
        findings += _no_identical_members(household)
        findings += _complete_and_plausible(household, today)
    findings += _target_institution(content, register)
    if content.institution is not None:
        findings += _residents(content.institution, register, civil, today)
    return tuple(findings)


def flag_proposal(content: ProposalContent, register: RegisterFacts, today: dt.date) -> tuple[Flag, ...]:
    """What the verifier should judge without the check failing: a person living in an institution
    and also counted in a registered household (or the reverse) may be legitimate (a child placed in a
    home keeps a family card) but could draw aid twice, so a person decides, not the standard."""
    flags: list[Flag] = []
    if content.institution is not None:
        for index, resident in enumerate(content.institution.residents):
            household = register.resident_households.get(resident.nik)
            if household is not None and resident.resident_on(today):
                flags.append(
                    Flag.of(
                        "resident_in_registered_household",
                        detail=f"Household: {household}.",
                        field_path=f"institution.residents[{index}].nik",
                        member_nik=resident.nik,
                    )
                )
    if content.household is not None:
        for index, member in enumerate(content.household.members):
            institution = register.member_institutions.get(member.nik)
            if institution is not None:
                flags.append(
                    Flag.of(
                        "member_resident_in_institution",
                        detail=f"Institution: {institution}.",
                        field_path=_member_path(index, "nik"),
                        member_nik=member.nik,
                    )
                )
    return tuple(flags)


def _target_institution(content: ProposalContent, register: RegisterFacts) -> list[Finding]:
    target = content.target_institution_id
    if target is None or register.institutions.get(target):
        return []
    return [Finding.of(ReasonCode.TARGET_INSTITUTION_NOT_FOUND, field_path="target_institution_id")]


def _residents(
    institution: Institution,
    register: RegisterFacts,
    civil: Mapping[str, CivilPerson | None],
    today: dt.date,
) -> list[Finding]:
    """An institution's residents checked like household members: a valid NIK agreeing with the civil
    registry (name, birth date, alive), each person once, and nobody resident in two institutions
    at once. Discharged residents are history: only a current one can be resident elsewhere."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for index, resident in enumerate(institution.residents):
        path = f"institution.residents[{index}]"

        def finding(
            code: ReasonCode, item: str, detail: str | None = None, nik: str = resident.nik, at: str = path
        ) -> Finding:
            return Finding.of(code, detail=detail, field_path=f"{at}.{item}", member_nik=nik)

        if resident.nik in seen:
            findings.append(
                finding(
                    ReasonCode.NIK_DUPLICATE_IN_PROPOSAL,
                    "nik",
                    f"Resident {index + 1} repeats resident {seen[resident.nik] + 1}.",
                )
            )
            continue
        seen[resident.nik] = index
        # The NIK encodes the birth date (+40 on the day for women); residents state no sex.
        if not any(nik_matches(resident.nik, resident.birth_date, sex) for sex in Sex):
            findings.append(finding(ReasonCode.NIK_ENCODING_MISMATCH, "nik"))
        current = resident.resident_on(today)
        elsewhere = register.residents_elsewhere.get(resident.nik)
        if current and elsewhere is not None:
            findings.append(
                finding(ReasonCode.RESIDENT_IN_ANOTHER_INSTITUTION, "nik", f"Elsewhere: {elsewhere}.")
            )
        person = civil.get(resident.nik)
        if person is None:
            findings.append(finding(ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY, "nik"))
            continue
        if not names_agree(resident.name, person.name):
            findings.append(finding(ReasonCode.NAME_MISMATCH, "name", f"Civil registry: {person.name}."))
        if resident.birth_date != person.birth_date:
            findings.append(finding(ReasonCode.BIRTH_DATE_MISMATCH, "birth_date"))
        if current and not person.alive:
            findings.append(finding(ReasonCode.PERSON_DECEASED, "nik"))
    return findings


def _member_path(index: int, item: str | None = None) -> str:
    base = f"household.members[{index}]"
    return f"{base}.{item}" if item else base


def _target(content: ProposalContent, register: RegisterFacts) -> list[Finding]:
    target = content.target_household_id
    if content.kind is ProposalKind.NEW_HOUSEHOLD or target is None:
        return []
    active = register.households.get(target)
    if active is None:
        return [Finding.of(ReasonCode.TARGET_HOUSEHOLD_NOT_FOUND, field_path="target_household_id")]
    if not active:
        return [Finding.of(ReasonCode.TARGET_HOUSEHOLD_INACTIVE, field_path="target_household_id")]
    return []


def _unique_identity(
    kind: ProposalKind, household: Household, target: str | None, register: RegisterFacts
) -> list[Finding]:
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for index, member in enumerate(household.members):
        if member.nik in seen:
            findings.append(
                Finding.of(
                    ReasonCode.NIK_DUPLICATE_IN_PROPOSAL,
                    detail=f"Member {index + 1} repeats member {seen[member.nik] + 1}.",
                    field_path=_member_path(index, "nik"),
                    member_nik=member.nik,
                )
            )
            continue
        seen[member.nik] = index
        holder = register.registered_niks.get(member.nik)
        # A correction may of course name the people already in the household it corrects.
        if holder is not None and holder != target:
            findings.append(
                Finding.of(
                    ReasonCode.NIK_ALREADY_REGISTERED,
                    detail=f"Registered household: {holder}.",
                    field_path=_member_path(index, "nik"),
                    member_nik=member.nik,
                )
            )
        elif holder is None and member.nik in register.namesakes:
            findings.append(
                Finding.of(
                    ReasonCode.POSSIBLE_DUPLICATE_PERSON,
                    field_path=_member_path(index, "name"),
                    member_nik=member.nik,
                )
            )
        other = register.earlier_open_proposals.get(member.nik)
        if other is not None:
            findings.append(
                Finding.of(
                    ReasonCode.NIK_IN_OPEN_PROPOSAL,
                    detail=f"Other proposal: {other}.",
                    field_path=_member_path(index, "nik"),
                    member_nik=member.nik,
                )
            )
    kk_holder = register.registered_kks.get(household.kk_number)
    if kk_holder is not None and (kind is ProposalKind.NEW_HOUSEHOLD or kk_holder != target):
        findings.append(
            Finding.of(
                ReasonCode.KK_ALREADY_REGISTERED,
                detail=f"Registered household: {kk_holder}.",
                field_path="household.kk_number",
            )
        )
    return findings


def _civil_registry_agreement(household: Household, civil: Mapping[str, CivilPerson | None]) -> list[Finding]:
    findings: list[Finding] = []
    village_disagrees = False
    for index, member in enumerate(household.members):

        def finding(
            code: ReasonCode, item: str, detail: str | None = None, m: Member = member, i: int = index
        ) -> Finding:
            return Finding.of(code, detail=detail, field_path=_member_path(i, item), member_nik=m.nik)

        if not nik_matches(member.nik, member.birth_date, member.sex):
            findings.append(finding(ReasonCode.NIK_ENCODING_MISMATCH, "nik"))
        person = civil.get(member.nik)
        if person is None:
            findings.append(finding(ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY, "nik"))
            continue
        if not names_agree(member.name, person.name):
            # The registry's spelling is what the operator must copy, and it is not secret to them.
            findings.append(finding(ReasonCode.NAME_MISMATCH, "name", f"Civil registry: {person.name}."))
        if member.birth_date != person.birth_date:
            findings.append(finding(ReasonCode.BIRTH_DATE_MISMATCH, "birth_date"))
        if member.sex != person.sex:
            findings.append(finding(ReasonCode.SEX_MISMATCH, "sex"))
        if not person.alive:
            findings.append(finding(ReasonCode.PERSON_DECEASED, "nik"))
        if person.kk_number != household.kk_number:
            findings.append(finding(ReasonCode.KK_MISMATCH, "nik"))
        elif person.village_code is not None and person.village_code != household.village_code:
            village_disagrees = True
    if village_disagrees:
        findings.append(
            Finding.of(
                ReasonCode.ADDRESS_MISMATCH,
                detail="The civil registry places this family card in another village.",
                field_path="household.village_code",
            )
        )
    return findings


def _one_head(household: Household) -> list[Finding]:
    heads = len(household.heads())
    if heads == 0:
        return [Finding.of(ReasonCode.NO_HEAD_OF_FAMILY, field_path="household.members")]
    if heads > 1:
        return [
            Finding.of(
                ReasonCode.MULTIPLE_HEADS, detail=f"{heads} heads are marked.", field_path="household.members"
            )
        ]
    return []


# Everything a member states but the NIK (a repeated NIK is rule (a)) and the name (compared by
# its key), read as attributes: a model_dump per member cost more than the rest of the rule.
_IDENTITY: Final = operator.attrgetter(*sorted(set(Member.model_fields) - {"nik", "name"}))


def _identity_of(member: Member) -> tuple[object, ...]:
    return (name_key(member.name), *_IDENTITY(member))


def _no_identical_members(household: Household) -> list[Finding]:
    findings: list[Finding] = []
    first_seen: dict[tuple[object, ...], int] = {}
    for index, member in enumerate(household.members):
        identity = _identity_of(member)
        if identity in first_seen and household.members[first_seen[identity]].nik != member.nik:
            findings.append(
                Finding.of(
                    ReasonCode.IDENTICAL_MEMBERS,
                    detail=f"Member {index + 1} repeats the data of member {first_seen[identity] + 1}.",
                    field_path=_member_path(index),
                    member_nik=member.nik,
                )
            )
        first_seen.setdefault(identity, index)
    return findings


def _years_between(earlier: dt.date, later: dt.date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def _complete_and_plausible(household: Household, today: dt.date) -> list[Finding]:
    findings: list[Finding] = []

    def missing(path: str) -> None:
        findings.append(Finding.of(ReasonCode.MISSING_FIELD, detail=f"Missing: {path}.", field_path=path))

    def implausible(path: str, why: str, nik: str | None = None) -> None:
        findings.append(Finding.of(ReasonCode.IMPLAUSIBLE_VALUE, detail=why, field_path=path, member_nik=nik))

    if household.housing is None:
        missing("household.housing")
    else:
        for item in REQUIRED_HOUSING:
            if getattr(household.housing, item) is None:
                missing(f"household.housing.{item}")
        area = household.housing.floor_area_m2
        if area is not None and area > MAX_FLOOR_AREA_M2:
            implausible("household.housing.floor_area_m2", f"A floor area of {area:g} m² is implausible.")
    if household.income_band is None:
        missing("household.income_band")
    if len(household.members) > MAX_MEMBERS:
        implausible(
            "household.members", f"{len(household.members)} members on one family card is implausible."
        )
    heads = household.heads()
    head = heads[0] if len(heads) == 1 else None
    for index, member in enumerate(household.members):
        path = _member_path(index, "birth_date")
        if member.birth_date > today:
            implausible(path, "The birth date lies in the future.", member.nik)
            continue
        age = _years_between(member.birth_date, today)
        if age > MAX_AGE_YEARS:
            implausible(path, f"An age of {age} years is implausible.", member.nik)
        is_head = member is head
        if is_head and age < MIN_HEAD_AGE_YEARS:
            implausible(path, f"A head of family aged {age} is implausible.", member.nik)
        if head is not None and not is_head:
            gap = (
                _years_between(head.birth_date, member.birth_date)
                if member.birth_date >= head.birth_date
                else None
            )
            if member.relation_to_head is RelationToHead.CHILD and (
                gap is None or gap < MIN_GENERATION_GAP_YEARS
            ):
                implausible(path, "A child is born too close to, or before, the head of family.", member.nik)
            if (
                member.relation_to_head is RelationToHead.PARENT
                and _years_between(member.birth_date, head.birth_date) < MIN_GENERATION_GAP_YEARS
            ):
                implausible(path, "A parent is born too close to, or after, the head of family.", member.nik)
    return findings
