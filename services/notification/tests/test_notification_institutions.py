"""Queue notices, returns and determinations of institutions' (LKS) proposals follow their own tier
path and reach their proposer: as pure rules, and the assistance a decree lists through the service."""

from __future__ import annotations

import datetime as dt

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events import IntegrityChecked, ProposalSubmitted, ReturnedAtTier, VerifiedAtTier
from dtks_contracts.events.registry import (
    DeterminationIssued,
    InstitutionClosed,
    InstitutionRegistered,
)
from dtks_contracts.events.verification import Finding
from dtks_contracts.institution import DeterminedAssistance, Institution
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_contracts.vocabulary.tiers import Tier
from dtks_notification.domain.notices import ActorAudience
from dtks_notification.domain.rules import Knowledge, ProposalFacts, QueueEntry, decide
from dtks_notification.testing import VILLAGE, envelope, produce
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.testing import wait_until

SOCIAL_SERVICE = Actor(subject="dinsos", role=Role.REGENCY_OPERATOR, region=VILLAGE[:5])


def _submission() -> ProposalSubmitted:
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": "p-lks",
            "round": 1,
            "kind": "institution_registration",
            "origin": "social_service",
            "village_code": VILLAGE,
            "submitted_by": SOCIAL_SERVICE.model_dump(mode="json"),
            "institution": {
                "name": "LKSA Harapan Bunda",
                "legal_form": "foundation",
                "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
                "service_type": "children",
                "address": {"street": "Jl. Pagar Dewa No. 21"},
                "village_code": VILLAGE,
                "head": "Nurhayati",
                "capacity": 40,
                "licence": {"number": "1/2024", "issued_by": VILLAGE[:5], "issued_on": "2024-02-01"},
                "contact": {"phone": "+6273621234"},
                "bank_account_ref": "bank-ref:lksa",
            },
        }
    )


def test_an_institutions_queues_are_regency_province_ministry_and_its_return_reaches_the_social_service():
    submitted = _submission()
    facts = decide(envelope(submitted), submitted, Knowledge()).learned_proposals["p-lks"]
    assert facts == ProposalFacts(
        VILLAGE, "dinsos", "institution_registration", "regency_operator", VILLAGE[:5]
    )
    known = Knowledge(proposals={"p-lks": facts})

    checked = IntegrityChecked(proposal_id="p-lks", round=1, village_code=VILLAGE, stage="entry", passed=True)
    assert decide(envelope(checked), checked, known).queue_entries == [
        QueueEntry(Tier.REGENCY, VILLAGE[:5], "p-lks")
    ]
    verified = VerifiedAtTier(
        proposal_id="p-lks", round=1, village_code=VILLAGE, tier="regency", verifier=SOCIAL_SERVICE
    )
    assert decide(envelope(verified), verified, known).queue_entries == [
        QueueEntry(Tier.PROVINCE, VILLAGE[:2], "p-lks")
    ]

    returned = ReturnedAtTier(
        proposal_id="p-lks",
        round=1,
        village_code=VILLAGE,
        tier="province",
        returned_by=Actor(subject="prov", role=Role.PROVINCE_VERIFIER, region=VILLAGE[:2]),
        reasons=(Finding.of(ReasonCode.EVIDENCE_MISSING),),
    )
    [notice] = decide(envelope(returned), returned, known).notices
    assert notice.audience == ActorAudience(Role.REGENCY_OPERATOR.value, VILLAGE[:5], "dinsos")


INSTITUTION_OPERATOR = Actor(subject="lks-op", role=Role.INSTITUTION_OPERATOR, region=VILLAGE)


def _assistance_submission() -> ProposalSubmitted:
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": "p-aid",
            "round": 1,
            "kind": "institution_assistance",
            "origin": "social_service",
            "village_code": VILLAGE,
            "submitted_by": INSTITUTION_OPERATOR.model_dump(mode="json"),
            "target_institution_id": "lks-1",
            "assistance": {"program": "ATENSI", "quarter": "2027-Q2", "basis": "per_institution"},
        }
    )


def _decree(*assistance: DeterminedAssistance) -> DeterminationIssued:
    return DeterminationIssued.model_validate(
        {
            "decree_number": "2/HUK/2027", "period": {"year": 2027, "quarter": 2},
            "cut_off": "2027-03-31T16:59:59Z", "issued_at": "2027-04-02T00:00:00Z",
            "register_hash": "ab" * 32, "hash_algorithm": "dtks-register-merkle-v1",
            "counts": {"households": 0, "people": 0},
            "issued_by": {"subject": "determiner", "role": "ministry_determiner", "region": "ID"},
            "institution_assistance": [a.model_dump(mode="json") for a in assistance],
        }
    )  # fmt: skip


def _aid(proposal_id: str) -> DeterminedAssistance:
    return DeterminedAssistance(
        proposal_id=proposal_id, institution_id="lks-1", program="ATENSI", starts_on=dt.date(2027, 4, 1),
        ends_on=dt.date(2027, 6, 30), basis="per_institution", residents_counted=2,
    )  # fmt: skip


def test_an_institutions_registration_and_closure_determined_are_told_to_whoever_proposed_them():
    submitted = _submission()
    known = Knowledge(proposals=decide(envelope(submitted), submitted, Knowledge()).learned_proposals)
    institution = Institution.model_validate(
        {**submitted.model_dump(mode="json")["institution"], "institution_id": "lks-1"}
    )
    registered = InstitutionRegistered(
        institution_id="lks-1", decree_number="1/HUK/2027", proposal_id="p-lks", institution=institution
    )
    [notice] = decide(envelope(registered), registered, known).notices
    assert notice.rule == "proposal_determined_institution_registered"
    assert notice.audience == ActorAudience(Role.REGENCY_OPERATOR.value, VILLAGE[:5], "dinsos")
    assert "Decree 1/HUK/2027 registered institution lks-1 (LKSA Harapan Bunda)" in notice.body

    # Closed at the request of the institution's own operator: the operator hears it.
    closure = ProposalSubmitted.model_validate(
        {
            "proposal_id": "p-close", "round": 1, "kind": "institution_closure", "origin": "social_service",
            "village_code": VILLAGE, "submitted_by": INSTITUTION_OPERATOR.model_dump(mode="json"),
            "target_institution_id": "lks-1", "closure_reason": "dissolved", "evidence_note": "Akta pembubaran 12/2027",
        }
    )  # fmt: skip
    known.proposals.update(decide(envelope(closure), closure, known).learned_proposals)
    closed = InstitutionClosed(
        institution_id="lks-1", decree_number="2/HUK/2027", proposal_id="p-close",
        registration_number=institution.registration_number, reason="dissolved",
    )  # fmt: skip
    [notice] = decide(envelope(closed), closed, known).notices
    assert notice.rule == "proposal_determined_institution_closed"
    assert notice.audience == ActorAudience(Role.INSTITUTION_OPERATOR.value, VILLAGE, "lks-op")
    # A household's village operator is told nothing of it.
    assert notice.audience.role != Role.VILLAGE_OPERATOR.value


def test_each_assistance_a_decree_lists_is_told_to_its_proposer_and_an_unknown_ones_to_nobody():
    submitted = _assistance_submission()
    known = Knowledge(proposals=decide(envelope(submitted), submitted, Knowledge()).learned_proposals)
    decree = _decree(_aid("p-aid"), _aid("p-never-seen"))
    [notice] = decide(envelope(decree), decree, known).notices
    assert notice.rule == "proposal_determined_assistance"
    assert notice.audience == ActorAudience(Role.INSTITUTION_OPERATOR.value, VILLAGE, "lks-op")
    assert "Decree 2/HUK/2027 determined ATENSI for institution lks-1" in notice.body
    assert "2027-04-01 to 2027-06-30" in notice.body


@pytest.mark.infra
async def test_the_institutions_operator_finds_the_decreed_assistance_in_its_inbox(
    service, kafka_bootstrap, topic_prefix
):
    async with service() as svc:
        submitted = _assistance_submission()
        await produce(kafka_bootstrap, topic_prefix, [envelope(submitted)])

        async def known() -> bool:
            return await svc.count("SELECT count(*) FROM known_proposals WHERE proposal_id = 'p-aid'") == 1

        # The submission and the decree travel on different topics: the decree follows once it is known.
        await wait_until(known, what="the assistance's submission learned")
        await produce(kafka_bootstrap, topic_prefix, [envelope(_decree(_aid("p-aid")))])
        token = TokenService(svc.settings.jwt_secret, svc.settings.jwt_issuer).issue(
            subject="lks-op", role=Role.INSTITUTION_OPERATOR, region=VILLAGE, institution_id="lks-1"
        )
        operator = {"Authorization": f"Bearer {token}"}

        async def told() -> bool:
            inbox = (await svc.client.get("/inbox", headers=operator)).json()
            return any(i["rule"] == "proposal_determined_assistance" for i in inbox["items"])

        await wait_until(told, what="the determined assistance in the operator's inbox")
        [item] = (await svc.client.get("/inbox", headers=operator)).json()["items"]
        assert item["title"] == "Proposal p-aid determined: assistance for institution lks-1"
        # The village's own operator, who did not propose it, is told nothing.
        village = (await svc.client.get("/inbox", headers=svc.token(Role.VILLAGE_OPERATOR, VILLAGE))).json()
        assert village["items"] == []
