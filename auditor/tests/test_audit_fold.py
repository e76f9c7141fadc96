"""dtks-audit's fold and checks over records made here (no broker): chain, keys and rotations."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dtks_audit.fold import LogFold
from dtks_audit.log import Record
from dtks_audit.signatures import TrustedKeys
from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.registry import (
    DecreeKeyActivated,
    DecreeSignature,
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionRegistered,
    Period,
    RegisterCounts,
)
from dtks_contracts.household import Address, Household, Member
from dtks_contracts.institution import DeterminedAssistance, Institution
from dtks_contracts.merkle import MERKLE_ALGORITHM, decree_leaf, institution_decree_leaf
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.tree_head import key_bytes, key_id, tree_head_bytes
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex
from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_contracts.vocabulary.roles import Role

WHO = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
AT = dt.datetime(2027, 1, 5, tzinfo=dt.UTC)


def household(i: int) -> Household:
    head = Member(nik=f"177101410190{i + 1:04d}", name="Siti Aminah", birth_date=dt.date(1990, 1, 1),
                  sex=Sex.FEMALE, relation_to_head=RelationToHead.HEAD)  # fmt: skip
    return Household(
        household_id=f"H-{i}", kk_number=f"177101{i:010d}", address=Address(street=f"Jl. {i}", rt="001", rw="001"),
        village_code="17.71.01.1001", members=(head,),
    )  # fmt: skip


def public(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def signed(decree: DeterminationIssued, key: Ed25519PrivateKey) -> DeterminationIssued:
    value = key.sign(tree_head_bytes(decree)).hex()
    return decree.model_copy(
        update={"signature": DecreeSignature(key_id=key_id(bytes.fromhex(public(key))), value=value)}
    )


def decree(number: str, quarter: int, members: list[Household], registered: list[Household],
           previous: DeterminationIssued | None) -> DeterminationIssued:  # fmt: skip
    return DeterminationIssued(
        decree_number=number, period=Period(year=2027, quarter=quarter), cut_off=AT, issued_at=AT,
        registered=tuple(str(h.household_id) for h in registered), register_hash=register_root_of(members),
        hash_algorithm=MERKLE_ALGORITHM, counts=RegisterCounts(households=len(members), people=len(members)),
        issued_by=WHO, tree_size=len(members), changed_leaves=tuple(decree_leaf(h) for h in registered),
        previous_decree=previous.decree_number if previous else None,
        previous_register_hash=previous.register_hash if previous else None,
    )  # fmt: skip


def fold_of(payloads: list[EventPayload]) -> LogFold:
    fold = LogFold()
    for offset, p in enumerate(payloads):
        e = EventEnvelope.new(p, aggregate_version=1, actor=WHO)
        fold.add(Record("t", 0, offset, e.to_bytes()))
    return fold


def registered(h: Household, number: str) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=str(h.household_id), decree_number=number, household=h, proposal_id="p"
    )


def test_two_chained_signed_decrees_check_out_and_a_broken_link_is_named() -> None:
    key = Ed25519PrivateKey.generate()
    h = [household(i) for i in range(3)]
    d1 = signed(decree("1/HUK/2027", 1, h[:2], h[:2], None), key)
    d2 = signed(decree("2/HUK/2027", 2, h, h[2:], d1), key)
    events: list[EventPayload] = [registered(x, "1/HUK/2027") for x in h[:2]] + [
        d1,
        registered(h[2], "2/HUK/2027"),
        d2,
    ]
    results = fold_of(events).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok) for r in results] == [("1/HUK/2027", True), ("2/HUK/2027", True)]

    broken = signed(d2.model_copy(update={"previous_register_hash": "00" * 32}), key)
    results = fold_of([*events[:-1], broken]).check(TrustedKeys.of([public(key)]))
    assert not results[1].ok and "chain broken" in results[1].findings[0].what


def test_a_rotation_is_followed_only_when_the_trusted_key_endorsed_it() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_id, new_id = key_id(bytes.fromhex(public(old))), key_id(bytes.fromhex(public(new)))
    h = [household(7)]
    d1 = signed(decree("1/HUK/2027", 1, h, h, None), new)
    first = DecreeKeyActivated(key_id=old_id, public_key=public(old), activated_at=AT)

    def rotation(endorsement: str | None) -> DecreeKeyActivated:
        return DecreeKeyActivated(key_id=new_id, public_key=public(new), activated_at=AT + dt.timedelta(days=1),
                                  previous_key_id=old_id, endorsement=endorsement)  # fmt: skip

    endorsed = rotation(old.sign(key_bytes(new_id, public(new))).hex())
    results = fold_of([first, endorsed, registered(h[0], "1/HUK/2027"), d1]).check(
        TrustedKeys.of([public(old)])
    )
    assert results[0].ok and results[0].signature == f"valid (key {new_id})"

    forged = rotation(Ed25519PrivateKey.generate().sign(key_bytes(new_id, public(new))).hex())
    results = fold_of([first, forged, registered(h[0], "1/HUK/2027"), d1]).check(
        TrustedKeys.of([public(old)])
    )
    assert not results[0].ok and results[0].signature.startswith("refused")


def institution(name: str, iid: str) -> Institution:
    return Institution.model_validate(
        {
            "institution_id": iid, "name": name, "legal_form": "foundation",
            "registration_number": "AHU-0012345.AH.01.04.Tahun 2019", "service_type": "children",
            "address": {"street": "Jl. Pagar Dewa No. 21"}, "village_code": "17.71.01.1001", "head": "Nurhayati",
            "capacity": 40, "licence": {"number": "1/2024", "issued_by": "17.71", "issued_on": "2024-02-01"},
            "contact": {"phone": "+6273621234"}, "bank_account_ref": "bank-ref:lksa",
        }
    )  # fmt: skip


def test_the_institutions_section_is_folded_into_the_root_after_the_households_and_an_older_decree_keeps_its_own() -> (
    None
):
    key = Ed25519PrivateKey.generate()
    h = [household(i) for i in range(2)]
    lks = institution("LKSA Harapan Bunda", "I-1")
    d1 = signed(decree("1/HUK/2027", 1, h, h, None), key)
    with_institution = decree("2/HUK/2027", 2, h, [], d1).model_copy(
        update={
            "register_hash": register_root_of(h, [lks]), "tree_size": 3, "institutions_registered": ("I-1",),
            "institution_leaves": (institution_decree_leaf(lks),),
        }
    )  # fmt: skip
    d2 = signed(with_institution, key)
    registration = InstitutionRegistered(
        institution_id="I-1", decree_number="2/HUK/2027", proposal_id="p-i", institution=lks
    )
    events: list[EventPayload] = [*(registered(x, "1/HUK/2027") for x in h), d1, registration, d2]
    results = fold_of(events).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok, r.recomputed_hash) for r in results] == [
        ("1/HUK/2027", True, register_root_of(h)),
        ("2/HUK/2027", True, register_root_of(h, [lks])),
    ]

    # The institution's event altered in the log: the decree's root no longer recomputes, and the
    # institution is named.
    forged = registration.model_copy(update={"institution": lks.model_copy(update={"capacity": 400})})
    results = fold_of([*events[:3], forged, d2]).check(TrustedKeys.of([public(key)]))
    assert results[0].ok and not results[1].ok
    assert [f.household_id for f in results[1].findings] == ["I-1"]


def test_assistance_determined_by_decrees_is_folded_as_the_roots_last_section_and_an_altered_list_is_caught() -> (
    None
):
    key = Ed25519PrivateKey.generate()
    h = [household(0)]
    lks = institution("LKSA Harapan Bunda", "I-1")
    d1 = signed(
        decree("1/HUK/2027", 1, h, h, None).model_copy(
            update={
                "register_hash": register_root_of(h, [lks]), "tree_size": 2, "institutions_registered": ("I-1",),
                "institution_leaves": (institution_decree_leaf(lks),),
            }
        ),
        key,
    )  # fmt: skip
    given = DeterminedAssistance(
        proposal_id="p-a", institution_id="I-1", program="ATENSI", starts_on=dt.date(2027, 4, 1),
        ends_on=dt.date(2027, 6, 30), basis="per_institution", residents_counted=12,
    )  # fmt: skip
    # The second decree determines assistance only; the third nothing new: the assistance stays in its root.
    d2 = signed(
        decree("2/HUK/2027", 2, h, [], d1).model_copy(
            update={"register_hash": register_root_of(h, [lks], [given]), "tree_size": 3,
                    "institution_assistance": (given,)}
        ),
        key,
    )  # fmt: skip
    d3 = signed(
        decree("3/HUK/2027", 3, h, [], d2).model_copy(
            update={"register_hash": register_root_of(h, [lks], [given]), "tree_size": 3}
        ),
        key,
    )  # fmt: skip
    registration = InstitutionRegistered(
        institution_id="I-1", decree_number="1/HUK/2027", proposal_id="p-i", institution=lks
    )
    events: list[EventPayload] = [registered(h[0], "1/HUK/2027"), registration, d1, d2, d3]
    results = fold_of(events).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok) for r in results] == [
        ("1/HUK/2027", True),
        ("2/HUK/2027", True),
        ("3/HUK/2027", True),
    ]
    assert results[1].recomputed_hash == register_root_of(h, [lks], [given]) != register_root_of(h, [lks])

    # The list altered in the log (more residents counted) under the same signed root: caught.
    padded = d2.model_copy(
        update={"institution_assistance": (given.model_copy(update={"residents_counted": 40}),)}
    )
    results = fold_of([*events[:3], padded, d3]).check(TrustedKeys.of([public(key)]))
    assert results[0].ok and not results[1].ok and not results[2].ok


def test_a_chunked_decree_checks_out_as_its_whole_form_and_half_of_one_is_reported_not_checked() -> None:
    key = Ed25519PrivateKey.generate()
    h = [household(i) for i in range(5)]
    d1 = signed(decree("1/HUK/2027", 1, h, h, None), key)
    manifest, chunks = split_decree(d1, records_per_chunk=2)
    assert len(chunks) > 2
    events: list[EventPayload] = [registered(x, "1/HUK/2027") for x in h]
    # Chunks before and after the manifest: a reader must not depend on their order in the log.
    results = fold_of([*events, chunks[0], manifest, *chunks[1:]]).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok, r.recomputed_hash) for r in results] == [
        ("1/HUK/2027", True, d1.register_hash)
    ]

    results = fold_of([*events, manifest, *chunks[:-1]]).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok) for r in results] == [("1/HUK/2027", False)]
    assert "not whole" in results[0].findings[0].what


def test_an_old_form_decree_and_a_chunked_one_check_out_in_one_chain() -> None:
    key = Ed25519PrivateKey.generate()
    h = [household(i) for i in range(4)]
    d1 = signed(decree("1/HUK/2027", 1, h[:2], h[:2], None), key)
    d2 = signed(decree("2/HUK/2027", 2, h, h[2:], d1), key)
    manifest, chunks = split_decree(d2, records_per_chunk=1)
    events: list[EventPayload] = [
        *(registered(x, "1/HUK/2027") for x in h[:2]),
        d1,
        *(registered(x, "2/HUK/2027") for x in h[2:]),
        manifest,
        *chunks,
    ]
    results = fold_of(events).check(TrustedKeys.of([public(key)]))
    assert [(r.decree_number, r.ok) for r in results] == [("1/HUK/2027", True), ("2/HUK/2027", True)]


def test_corrections_and_deactivations_reach_the_root_alike_in_one_process_and_across_partitions() -> None:
    """A second decree that corrects one household, deactivates another and registers a new one:
    its root is recomputed exactly, whether one fold read every partition or the folds of two
    workers (each a share of the partitions) were merged."""
    key = Ed25519PrivateKey.generate()
    h = [household(i) for i in range(5)]
    moved = h[0].model_copy(update={"address": Address(street="Jl. Audit 2", rt="001", rw="001")})
    d1 = signed(decree("1/HUK/2027", 1, h[:4], h[:4], None), key)
    in_force = [moved, h[2], h[3], h[4]]
    d2 = decree("2/HUK/2027", 2, in_force, [h[4]], d1).model_copy(
        update={
            "corrected": ("H-0",),
            "deactivated": ("H-1",),
            "changed_leaves": tuple(decree_leaf(x) for x in (h[4], moved)),
        }
    )
    d2 = signed(DeterminationIssued.model_validate(d2.model_dump()), key)

    def gone(x: Household) -> HouseholdDeactivated:
        return HouseholdDeactivated(household_id=str(x.household_id), decree_number="2/HUK/2027",
                                    kk_number=x.kk_number, reason=DeactivationReason.MOVED_AWAY, proposal_id="p")  # fmt: skip

    corrected = HouseholdCorrected(
        household_id="H-0", decree_number="2/HUK/2027", household=moved, proposal_id="p"
    )
    # (payload, its stream's version); each household in partition i % 2, the decrees in partition 0.
    log: list[tuple[EventPayload, int]] = [(registered(x, "1/HUK/2027"), 1) for x in h[:4]] + [(d1, 1)]
    log += [(corrected, 2), (gone(h[1]), 2)]
    log += [(registered(h[4], "2/HUK/2027"), 1), (d2, 1)]
    records = []
    for offset, (payload, version) in enumerate(log):
        partition = int(payload.household_id[2:]) % 2 if hasattr(payload, "household_id") else 0
        envelope = EventEnvelope.new(payload, aggregate_version=version, actor=WHO)
        records.append(Record("t", partition, offset, envelope.to_bytes()))
    trusted = TrustedKeys.of([public(key)])

    whole = LogFold()
    for r in records:
        whole.add(r)
    results = whole.check(trusted)
    assert not whole.undecodable, whole.undecodable
    assert [(r.decree_number, r.ok, r.households) for r in results] == [
        ("1/HUK/2027", True, 4),
        ("2/HUK/2027", True, 4),
    ], [r.as_dict() for r in results]
    assert results[1].recomputed_hash == register_root_of(in_force)

    merged = LogFold()
    for partition in (0, 1):
        share = LogFold()
        for r in records:
            if r.partition == partition:
                share.add(r)
        merged.merge(share.for_merge())
    assert [r.as_dict() for r in merged.check(trusted)] == [r.as_dict() for r in results]
