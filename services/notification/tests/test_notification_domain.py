"""The pure core: rules, digest, subscription filters, retry policy, signatures (milliseconds each)."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events import (
    BatchRatified,
    Finding,
    HouseholdDeactivated,
    HouseholdRegistered,
    IntegrityChecked,
    ProposalSubmitted,
    ReturnedAtTier,
    SentBackForCorrection,
    VerifiedAtTier,
    WelfareDecileSet,
)
from dtks_contracts.household import Deliberation
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_contracts.vocabulary.reasons import REASON_MESSAGES
from dtks_contracts.vocabulary.tiers import Tier
from dtks_notification.adapters import records
from dtks_notification.domain import signing
from dtks_notification.domain.digest import compose_digest
from dtks_notification.domain.notices import ActorAudience, HouseholdAudience
from dtks_notification.domain.retry import RetryPolicy
from dtks_notification.domain.rules import HouseholdFacts, Knowledge, ProposalFacts, QueueEntry, decide
from dtks_notification.domain.subscriptions import FilterRefused, PublicFacts, granted_filter, matching
from dtks_notification.testing import VILLAGE, envelope, household, village_operator

DISTRICT = "17.71.01"
VERIFIER = Actor(subject="camat-1", role=Role.DISTRICT_VERIFIER, region=DISTRICT)


def _returned(**kw: object) -> ReturnedAtTier:
    fields: dict[str, object] = dict(
        proposal_id="p-1",
        round=1,
        village_code=VILLAGE,
        tier="district",
        returned_by=VERIFIER,
        reasons=(
            Finding.of(ReasonCode.EVIDENCE_MISSING, detail="No roof photo."),
            Finding(
                code=ReasonCode.NAME_MISMATCH,
                message="Siti Aminah vs Siti Aminah Z",
                field_path="household.members[0].name",
            ),
        ),
        note="Please visit again.",
    )
    fields.update(kw)
    return ReturnedAtTier(**fields)  # type: ignore[arg-type]


def test_a_returned_proposal_tells_its_submitter_every_reason_in_words():
    payload = _returned()
    known = Knowledge(proposals={"p-1": ProposalFacts(VILLAGE, "op-pagar-dewa")})
    d = decide(envelope(payload), payload, known)
    [notice] = d.notices
    assert notice.audience == ActorAudience(Role.VILLAGE_OPERATOR.value, VILLAGE, "op-pagar-dewa")
    assert REASON_MESSAGES[ReasonCode.EVIDENCE_MISSING] in notice.body
    assert "No roof photo." in notice.body
    # A custom message still carries the code's standard sentence and the field to correct.
    assert REASON_MESSAGES[ReasonCode.NAME_MISMATCH] in notice.body
    assert "[household.members[0].name]" in notice.body
    assert "Please visit again." in notice.body
    assert d.queue_exits[0].tier is Tier.DISTRICT


def test_a_ministry_integrity_failure_enters_the_regency_queue_and_the_village_is_told_not_asked():
    payload = SentBackForCorrection(
        proposal_id="p-1", round=1, village_code=VILLAGE, tier=Tier.MINISTRY, to_tier=Tier.REGENCY,
        reasons=(Finding.of(ReasonCode.NIK_ALREADY_REGISTERED),),
    )  # fmt: skip
    known = Knowledge(proposals={"p-1": ProposalFacts(VILLAGE, "op-pagar-dewa")})
    d = decide(envelope(payload), payload, known)
    assert [(x.proposal_id, x.tier) for x in d.queue_exits] == [("p-1", Tier.MINISTRY)]
    assert d.queue_entries == [QueueEntry(Tier.REGENCY, VILLAGE[:5], "p-1")]
    [notice] = d.notices
    assert notice.rule == "proposal_sent_back_to_regency"
    assert notice.audience == ActorAudience(Role.VILLAGE_OPERATOR.value, VILLAGE, "op-pagar-dewa")
    assert REASON_MESSAGES[ReasonCode.NIK_ALREADY_REGISTERED] in notice.body
    assert "No resubmission is needed" in notice.body and "regency social service" in notice.title


def test_a_return_read_before_its_submission_still_reaches_the_village_office():
    payload = _returned()
    [notice] = decide(envelope(payload), payload, Knowledge()).notices
    assert notice.audience == ActorAudience(Role.VILLAGE_OPERATOR.value, VILLAGE, None)


def test_the_same_event_always_gives_the_same_notification_id():
    payload = _returned()
    e = envelope(payload)
    assert (
        decide(e, payload, Knowledge()).notices[0].notification_id
        == decide(e, payload, Knowledge()).notices[0].notification_id
    )
    assert (
        decide(envelope(payload), payload, Knowledge()).notices[0].notification_id
        != decide(e, payload, Knowledge()).notices[0].notification_id
    )


def test_a_submission_is_remembered_and_queues_move_tier_by_tier():
    submitted = ProposalSubmitted(
        proposal_id="p-1",
        round=1,
        kind="new_household",
        origin="village",
        village_code=VILLAGE,
        deliberation=Deliberation(kind="musdes", date=dt.date(2025, 1, 20), minutes_ref="m.pdf"),
        household=household(),
        submitted_by=village_operator(),
    )
    d = decide(envelope(submitted), submitted, Knowledge())
    assert d.learned_proposals["p-1"] == ProposalFacts(VILLAGE, "op-pagar-dewa")
    assert not d.notices and not d.queue_entries

    checked = IntegrityChecked(proposal_id="p-1", round=1, village_code=VILLAGE, stage="entry", passed=True)
    assert decide(envelope(checked), checked, Knowledge()).queue_entries == [
        QueueEntry(Tier.DISTRICT, DISTRICT, "p-1")
    ]

    verified = VerifiedAtTier(
        proposal_id="p-1",
        round=1,
        village_code=VILLAGE,
        tier="regency",
        verifier=Actor(subject="dinsos", role=Role.REGENCY_OPERATOR, region="17.71"),
    )
    d = decide(envelope(verified), verified, Knowledge())
    assert d.queue_entries == [QueueEntry(Tier.RATIFICATION, "17.71", "p-1")]
    assert d.queue_exits[0].tier is Tier.REGENCY
    to_ministry = verified.model_copy(update={"tier": Tier.PROVINCE})
    assert decide(envelope(to_ministry), to_ministry, Knowledge()).queue_entries == [
        QueueEntry(Tier.MINISTRY, "ID", "p-1")
    ]


def test_a_household_is_texted_on_entry_only_with_a_phone_and_consent():
    def registered(**kw: object) -> HouseholdRegistered:
        return HouseholdRegistered(
            household_id="h-1", decree_number="D-1", proposal_id="p-1", household=household("h-1", **kw)
        )  # type: ignore[arg-type]

    with_consent = registered(phone="+6281234567890", consent=True)
    d = decide(envelope(with_consent), with_consent, Knowledge())
    audiences = [n.audience for n in d.notices]
    assert HouseholdAudience("h-1", "+6281234567890") in audiences
    assert ActorAudience(Role.VILLAGE_OPERATOR.value, VILLAGE, None) in audiences
    assert "7,0001" not in d.notices[-1].title and "…0001" in d.notices[-1].title  # masked family card
    for payload in (registered(phone="+6281234567890", consent=False), registered()):
        d = decide(envelope(payload), payload, Knowledge())
        assert not [n for n in d.notices if isinstance(n.audience, HouseholdAudience)]


def test_a_household_leaving_the_register_is_texted_from_what_was_learned():
    payload = HouseholdDeactivated(
        household_id="h-1",
        decree_number="D-2",
        kk_number="1771010101200001",
        reason="moved_away",
        proposal_id="p-9",
    )
    known = Knowledge(
        households={"h-1": HouseholdFacts(VILLAGE, "1771010101200001", ("PKH",), "+6281234567890")}
    )
    d = decide(envelope(payload), payload, known)
    assert HouseholdAudience("h-1", "+6281234567890") in [n.audience for n in d.notices]
    assert d.public == PublicFacts("registry.household_deactivated", VILLAGE, ("PKH",))
    assert [n for n in decide(envelope(payload), payload, Knowledge()).notices] == []


def test_a_welfare_decile_reaches_the_agencies_of_the_households_village_and_programs() -> None:
    payload = WelfareDecileSet(
        household_id="h-1", decile=2, source="BPS ranking 2026-Q4", as_of=dt.date(2026, 11, 1)
    )
    known = Knowledge(
        households={"h-1": HouseholdFacts(VILLAGE, "1771010101200001", ("PKH",), "+6281234567890")}
    )
    d = decide(envelope(payload), payload, known)
    assert d.public == PublicFacts("registry.welfare_decile_set", VILLAGE, ("PKH",))
    assert d.notices == []  # a ranking is the agencies' business, not a message to the household
    # A household not known yet (its registration not read yet) still has its decile published.
    assert decide(envelope(payload), payload, Knowledge()).public == PublicFacts(
        "registry.welfare_decile_set", None, ()
    )


def test_a_ratified_batch_is_told_to_the_regency_social_service():
    payload = BatchRatified(
        batch_id="B-1",
        regency_code="17.71",
        decree_number="400/12/2025",
        decree_date=dt.date(2025, 2, 3),
        proposal_ids=("p-1", "p-2"),
        ratified_by=Actor(subject="walikota", role=Role.REGENT, region="17.71"),
    )
    [notice] = decide(envelope(payload), payload, Knowledge()).notices
    assert notice.audience == ActorAudience(Role.REGENCY_OPERATOR.value, "17.71")
    assert "2 proposals" in notice.body


def test_a_digest_is_one_message_for_many_proposals():
    notice = compose_digest(Tier.DISTRICT, DISTRICT, [f"p-{i:03}" for i in range(45)], uuid.uuid4())
    assert notice.audience == ActorAudience(Role.DISTRICT_VERIFIER.value, DISTRICT)
    assert notice.title.startswith("45 new proposals")
    assert "p-000" in notice.body and "and 25 more" in notice.body


def test_subscription_filters_stay_within_the_agency_grant():
    f = granted_filter(event_types=[], regions=[], programs=[], agency_region="17", agency_programs=("PKH",))
    assert (
        f.regions == ("17",) and f.programs == ("PKH",) and "registry.household_registered" in f.event_types
    )
    with pytest.raises(FilterRefused) as refused:
        granted_filter(
            event_types=["verification.returned_at_tier"],
            regions=[],
            programs=[],
            agency_region="ID",
            agency_programs=(),
        )
    assert refused.value.code == "event_type_not_public"
    with pytest.raises(FilterRefused) as refused:
        granted_filter(event_types=[], regions=["18"], programs=[], agency_region="17", agency_programs=())
    assert refused.value.code == "region_outside_grant"
    with pytest.raises(FilterRefused) as refused:
        granted_filter(
            event_types=[], regions=[], programs=["PIP"], agency_region="ID", agency_programs=("PKH",)
        )
    assert refused.value.code == "program_not_granted"


def test_a_decrees_chunks_and_manifest_are_not_offered_apart_but_reach_who_subscribed_to_decrees():
    everything = granted_filter(
        event_types=[], regions=[], programs=[], agency_region="ID", agency_programs=()
    )
    assert "registry.determination_issued" in everything.event_types
    assert "registry.determination_chunk" not in everything.event_types
    assert "registry.determination_manifest" not in everything.event_types
    for part in ("registry.determination_chunk", "registry.determination_manifest"):
        with pytest.raises(FilterRefused) as refused:
            granted_filter(
                event_types=[part], regions=[], programs=[], agency_region="ID", agency_programs=()
            )
        assert refused.value.code == "event_type_not_public"
    # A subscription to decrees, however narrow its regions and programs, receives a chunked decree's
    # parts; one to households only does not.
    decrees = granted_filter(
        event_types=["registry.determination_issued"], regions=["17.71"], programs=["PKH"],
        agency_region="17", agency_programs=("PKH",),
    )  # fmt: skip
    households = granted_filter(
        event_types=["registry.household_registered"], regions=[], programs=[], agency_region="ID",
        agency_programs=(),
    )  # fmt: skip
    for part in ("registry.determination_chunk", "registry.determination_manifest"):
        facts = PublicFacts(part, None, ())
        assert matching([("decrees", decrees), ("households", households)], facts) == ["decrees"]


def test_subscriptions_match_by_type_region_and_program():
    bengkulu_pkh = granted_filter(
        event_types=["registry.household_registered"],
        regions=["17.71"],
        programs=["PKH"],
        agency_region="ID",
        agency_programs=(),
    )
    everything = granted_filter(
        event_types=[], regions=[], programs=[], agency_region="ID", agency_programs=()
    )
    subs = [("a", bengkulu_pkh), ("b", everything)]
    assert matching(subs, PublicFacts("registry.household_registered", VILLAGE, ("PKH",))) == ["a", "b"]
    assert matching(subs, PublicFacts("registry.household_registered", VILLAGE, ("BPNT",))) == ["b"]
    assert matching(subs, PublicFacts("registry.household_registered", "18.71.01.1001", ("PKH",))) == ["b"]
    assert matching(subs, PublicFacts("registry.household_corrected", VILLAGE, ("PKH",))) == ["b"]
    assert matching(subs, PublicFacts("registry.determination_issued", None, ())) == ["b"]
    assert matching(subs, PublicFacts("verification.returned_at_tier", VILLAGE, ())) == []


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap_and_the_limit():
    policy = RetryPolicy(max_attempts=4, base_seconds=1.0, cap_seconds=8.0)
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.delay_after(attempt, rng) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered
    assert not policy.exhausted(3, 4) and policy.exhausted(4, 4)


def test_signatures_verify_only_with_the_secret_the_body_and_a_fresh_timestamp():
    body = b'{"a":1}'
    headers = signing.signed_headers("s" * 20, "d-1", "registry.household_registered", body, now=1_000_000)
    ts, sig = headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    assert signing.verify("s" * 20, ts, body, sig, now=1_000_010)
    assert not signing.verify("t" * 20, ts, body, sig, now=1_000_010)
    assert not signing.verify("s" * 20, ts, b'{"a":2}', sig, now=1_000_010)
    assert not signing.verify("s" * 20, ts, body, sig, now=1_000_000 + 3600)


def test_an_agencys_body_wrapped_around_the_kept_envelope_is_the_whole_bodys_canonical_json() -> None:
    """The sender joins the delivery's ids around the envelope kept once; an agency that checks the
    signature over the text, or parses it, must see what one serialisation of the whole would give."""
    envelope: dict[str, object] = {
        "event_type": "registry.determination_chunk",
        "payload": {"decree_number": "1/HUK/2026", "name": 'Siti "Ani" Ñ\u00e9\u2028', "ids": [1, 2]},
        "aaa": None,
        "zzz": {"b": 1, "a": [True, 0.5]},
    }
    for delivery_id, subscription_id in (("d-1", "s-1"), ('d"\\x', "s\u00e9\u2028")):
        whole = json.dumps(
            {"delivery_id": delivery_id, "subscription_id": subscription_id, "event": envelope},
            separators=(",", ":"),
            sort_keys=True,
            ensure_ascii=False,
        )
        assert (
            records.webhook_body(delivery_id, subscription_id, records.canonical_envelope(envelope)) == whole
        )
