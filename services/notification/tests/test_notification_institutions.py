"""Queue notices and returns for institutions' (LKS) proposals follow their own tier path and reach
their proposer, as pure rules."""

from __future__ import annotations

from dtks_contracts.actor import Actor
from dtks_contracts.events import IntegrityChecked, ProposalSubmitted, ReturnedAtTier, VerifiedAtTier
from dtks_contracts.events.verification import Finding
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_contracts.vocabulary.tiers import Tier
from dtks_notification.domain.notices import ActorAudience
from dtks_notification.domain.rules import Knowledge, ProposalFacts, QueueEntry, decide
from dtks_notification.testing import VILLAGE, envelope

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
