"""Social welfare institutions (LKS) in the contracts: the record, its residents, its proposals."""

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from dtks_contracts.actor import Actor
from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.institution import Licence, Resident
from dtks_contracts.vocabulary import Role, Tier
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalSubject
from dtks_contracts.vocabulary.tiers import TIER_ORDER, first_tier, next_tier, tier_path

VILLAGE = "17.71.01.1001"  # Pagar Dewa, as in conftest.py
RESIDENT_NIK = "1771010504100001"
REGENCY_OPERATOR = Actor(subject="dinsos-kota-bengkulu", role=Role.REGENCY_OPERATOR, region="17.71")


def test_an_institution_record_is_valid_and_lists_its_current_residents(make_institution):
    institution = make_institution()
    assert institution.regency_code == "17.71"
    assert [r.nik for r in institution.current_residents(dt.date(2020, 1, 1))] == [RESIDENT_NIK]
    assert institution.accreditation is not None and not institution.accreditation.valid_on(
        dt.date(2028, 7, 1)
    )


@pytest.mark.parametrize(
    "number",
    [
        "0012345.AH.01.04.Tahun 2019",  # no AHU prefix
        "AHU-12345.AH.01.04.Tahun 2019",  # serial too short
        "AHU-0012345.AH.01.04.Tahun 1998",  # before the AHU system
        "AHU-0000000.AH.01.04.Tahun 2019",  # a serial never issued
        "AHU-0012345.AH.01.04.Tahun 2999",  # in the future
    ],
)
def test_a_registration_number_outside_the_ministry_of_laws_format_is_refused(make_institution, number):
    with pytest.raises(ValidationError, match="registration"):
        make_institution(registration_number=number)


def test_the_service_type_comes_from_the_vocabulary(make_institution):
    assert make_institution(service_type="trafficking_victims").service_type == "trafficking_victims"
    with pytest.raises(ValidationError, match="service_type"):
        make_institution(service_type="orphans")


def test_the_licence_comes_from_the_regency_where_the_institution_is(make_institution):
    with pytest.raises(ValidationError, match="licence comes from the regency"):
        make_institution(licence=Licence(number="1/2024", issued_by="17.02", issued_on=dt.date(2024, 1, 2)))


def test_a_resident_cannot_be_discharged_before_admission_nor_admitted_before_birth():
    fields = dict(nik=RESIDENT_NIK, name="Andi Pratama", birth_date=dt.date(2010, 4, 5))
    with pytest.raises(ValidationError, match="discharged_on is before admitted_on"):
        Resident(**fields, admitted_on=dt.date(2019, 1, 14), discharged_on=dt.date(2018, 1, 1))
    with pytest.raises(ValidationError, match="before the resident's birth date"):
        Resident(**fields, admitted_on=dt.date(2009, 1, 1))


def test_the_institution_operator_is_a_village_scoped_role():
    Actor(subject="op-lksa", role=Role.INSTITUTION_OPERATOR, region=VILLAGE)
    with pytest.raises(ValidationError, match="acts on a village region"):
        Actor(subject="op-lksa", role=Role.INSTITUTION_OPERATOR, region="17.71")


def test_the_tier_path_is_a_property_of_the_proposal_kind():
    assert tier_path(ProposalKind.NEW_HOUSEHOLD) == TIER_ORDER
    assert tier_path(ProposalKind.INSTITUTION_CHANGE) == (Tier.REGENCY, Tier.PROVINCE, Tier.MINISTRY)
    assert first_tier("institution_registration") is Tier.REGENCY
    assert next_tier(Tier.REGENCY, ProposalKind.INSTITUTION_REGISTRATION) is Tier.PROVINCE
    assert next_tier(Tier.REGENCY) is Tier.RATIFICATION  # households keep the regent's decree
    assert next_tier(Tier.MINISTRY, ProposalKind.INSTITUTION_CLOSURE) is None
    with pytest.raises(ValueError):
        next_tier(Tier.DISTRICT, ProposalKind.INSTITUTION_REGISTRATION)
    assert {k.subject for k in ProposalKind} == set(ProposalSubject)


def _registration(make_institution, **changes):
    fields = dict(
        proposal_id="p-lks-1",
        round=1,
        kind="institution_registration",
        origin="social_service",
        village_code=VILLAGE,
        institution=make_institution(),
        submitted_by=REGENCY_OPERATOR,
    )
    fields.update(changes)
    return ProposalSubmitted(**fields)


def test_an_institution_registration_is_a_proposal_without_a_deliberation(make_institution):
    proposal = _registration(make_institution)
    assert proposal.institution is not None and proposal.deliberation is None


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"institution": None}, "needs the institution"),
        ({"target_institution_id": "I-1"}, "a registration has no target_institution_id"),
        ({"closure_reason": "dissolved"}, "only for closures"),
        ({"origin": "village"}, "come from the social service"),
        ({"kind": "new_household"}, "needs the household"),
        ({"submitted_by": None}, "needs submitted_by"),
        ({"kind": "institution_change"}, "needs target_institution_id"),
        (
            {"kind": "institution_closure", "institution": None, "target_institution_id": "I-1"},
            "closure_reason",
        ),
        (
            {
                "kind": "institution_closure",
                "institution": None,
                "target_institution_id": "I-1",
                "closure_reason": "merged",
            },
            "evidence_note",
        ),
        ({"village_code": "17.71.01.1002"}, "differs from the proposal's village_code"),
    ],
)
def test_inconsistent_institution_proposals_are_refused(make_institution, changes, fragment):
    with pytest.raises(ValidationError, match=fragment):
        _registration(make_institution, **changes)


def test_a_household_proposal_serializes_without_the_institution_fields(
    make_household, village_operator, deliberation
):
    # The bytes of household events (and so the hashes over them) are what they were before LKS.
    proposal = ProposalSubmitted(
        proposal_id="p-1",
        round=1,
        kind="new_household",
        origin="village",
        village_code=VILLAGE,
        deliberation=deliberation,
        household=make_household(),
        submitted_by=village_operator,
    )
    dumped = json.loads(proposal.model_dump_json())
    assert not {"institution", "target_institution_id", "closure_reason"} & set(dumped)


def test_acceptance_carries_the_verified_institution(make_institution):
    accepted = AcceptedByMinistry(
        proposal_id="p-lks-1",
        round=1,
        village_code=VILLAGE,
        kind="institution_registration",
        institution=make_institution(),
        accepted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    again = AcceptedByMinistry.model_validate_json(accepted.model_dump_json())
    assert again.institution == accepted.institution


def test_a_register_without_institutions_keeps_its_root_and_institutions_form_their_own_section(
    make_household, make_institution
):
    from dtks_contracts.merkle import institution_leaf_hash, leaf_hash, merkle_root
    from dtks_contracts.register_hash import household_digest, institution_digest, register_root_of

    household = make_household(household_id="HH-1")
    institution = make_institution(institution_id="LKS-1")
    households_only = merkle_root([leaf_hash("HH-1", household_digest(household))]).hex()
    # Decrees issued before institutions existed: the same root, whether the section is empty or absent.
    assert register_root_of([household]) == register_root_of([household], []) == households_only
    with_section = register_root_of([household], [institution])
    assert with_section != households_only
    digest = institution_digest(institution)
    assert (
        with_section
        == merkle_root(
            [leaf_hash("HH-1", household_digest(household)), institution_leaf_hash("LKS-1", digest)]
        ).hex()
    )
    with pytest.raises(ValueError, match="no register id"):
        register_root_of([household], [make_institution()])


def test_the_register_records_institutions_with_events_of_their_own_keyed_by_institution(make_institution):
    from dtks_contracts.events import InstitutionClosed, InstitutionRegistered, payload_class
    from dtks_contracts.topics import PUBLIC_EVENT_TYPES, key_field_for, topic_for

    registered = InstitutionRegistered(
        institution_id="LKS-1",
        decree_number="DTKS-2026-Q3",
        proposal_id="P-1",
        institution=make_institution(institution_id="LKS-1"),
    )
    closed = InstitutionClosed(
        institution_id="LKS-1",
        decree_number="DTKS-2026-Q4",
        proposal_id="P-2",
        registration_number=registered.institution.registration_number,
        reason=next(iter(ClosureReason)),
    )
    for event in (registered, closed):
        assert payload_class(event.event_type) is type(event)
        assert topic_for(event.event_type).name == "dtks.registry.events"
        assert key_field_for(event.event_type) == "institution_id"
        # Determined institutions reach agencies, their residents masked (see the test below).
        assert event.event_type in PUBLIC_EVENT_TYPES
    assert "household_id" not in json.loads(registered.model_dump_json())
    with pytest.raises(ValidationError, match="snapshot's institution_id"):
        InstitutionRegistered(
            institution_id="LKS-2",
            decree_number="DTKS-2026-Q3",
            proposal_id="P-1",
            institution=make_institution(institution_id="LKS-1"),
        )


def test_an_agencys_copy_of_an_institution_masks_its_residents_and_leaves_other_events_as_they_are(
    make_institution,
):
    from dtks_contracts.events import InstitutionRegistered
    from dtks_contracts.masking import for_agency

    institution = make_institution(institution_id="LKS-1")
    registered = InstitutionRegistered(
        institution_id="LKS-1", decree_number="DTKS-2026-Q3", proposal_id="P-1", institution=institution
    )
    payload = registered.model_dump(mode="json")
    copy = for_agency(registered.event_type, payload)
    residents = institution.residents
    assert residents, "the test needs an institution with residents"
    assert [(r["nik"], r["name"]) for r in copy["institution"]["residents"]] == [
        (
            r.nik[:6] + "**********",
            " ".join(w[0].upper() + "*" * (len(w) - 1) for w in r.name.lower().split()),
        )
        for r in residents
    ]
    assert {k: v for k, v in copy["institution"].items() if k != "residents"} == {
        k: v for k, v in payload["institution"].items() if k != "residents"
    }
    assert payload == registered.model_dump(mode="json")  # the event itself is not changed
    household_event = {"household_id": "H-1", "household": {"members": [{"nik": residents[0].nik}]}}
    assert for_agency("registry.household_registered", household_event) == household_event
