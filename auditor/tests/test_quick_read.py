"""The auditor's quick path (msgspec) against the contract's models (pydantic), over generated events.

The quick path may decline an event (the contract then reads it), but whatever it accepts the
contract must accept too, with the same household, decree, version and the same canonical snapshot
bytes as dtks_contracts.register_hash.canonical_json: the bytes the registry hashes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtks_audit import quick_read
from dtks_audit.fold import LogFold
from dtks_audit.log import Record
from dtks_audit.quick_read import QuickReader, canonical_household_bytes
from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import HouseholdCorrected, HouseholdDeactivated, HouseholdRegistered
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.household import Address, Household, Member
from dtks_contracts.regions import district_nik_prefixes
from dtks_contracts.register_hash import canonical_json, household_digest
from dtks_contracts.vocabulary import household_attributes as attributes
from dtks_contracts.vocabulary.household_attributes import RelationToHead, Sex
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_contracts.vocabulary.roles import Role

WHO = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
HID = "H-quick-1"


def a_household(**changes: Any) -> dict[str, Any]:
    head = Member(nik="1771014101900001", name="Siti Aminah", birth_date=dt.date(1990, 1, 1), sex=Sex.FEMALE,
                  relation_to_head=RelationToHead.HEAD, occupation="Petani")  # fmt: skip
    household = Household(household_id=HID, kk_number="1771010000000001", village_code="17.71.01.1001",
                          address=Address(street="Jl. Mawar 5", rt="001", rw="002"), members=(head,),
                          programs=(Program.PKH,))  # fmt: skip
    return {**household.model_dump(mode="json"), **changes}


def envelope_bytes(event_type: type[Any], payload: dict[str, Any], *, actor: Any = "default",
                   version: int = 1, jsonb: bool = False, ascii_only: bool = False) -> bytes:  # fmt: skip
    """An envelope as the relay writes it: the contract's own JSON, with the payload put in raw."""
    template = HouseholdDeactivated(household_id=HID, decree_number="1/HUK/2027", kk_number="1771010000000001",
                                    reason=DeactivationReason.MOVED_AWAY, proposal_id="p")  # fmt: skip
    doc = json.loads(EventEnvelope.new(template, aggregate_version=version, actor=WHO).to_bytes())
    doc["event_type"] = event_type.event_type
    doc["payload"] = payload
    if actor != "default":
        doc["actor"] = actor
    separators = (", ", ": ") if jsonb else (",", ":")
    return json.dumps(doc, separators=separators, ensure_ascii=ascii_only).encode()


def snapshot_payload(household: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "household_id": HID,
        "decree_number": "1/HUK/2027",
        "household": household,
        "proposal_id": "p",
        **extra,
    }


def by_contract(value: bytes) -> tuple[str, str, int, str | None] | None:
    """What the auditor read before the quick path: every event through the contract's models."""
    fold = LogFold(quick=False)
    fold.add(Record("t", 0, 0, value))
    if fold.undecodable:
        return None
    [(decree, [(household_id, _, digest, _)])] = fold.changes.items()
    return household_id, decree, fold._versions[household_id], digest


def assert_agrees(event_type: type[Any], value: bytes) -> bool:
    """The quick path declines, or agrees with the contract; True when it accepted."""
    facts = QuickReader().read(event_type.event_type, value)
    if facts is None:
        return False
    expected = by_contract(value)
    assert expected is not None, "the quick path accepted an event the contract refuses"
    assert (facts.household_id, facts.decree_number, facts.aggregate_version, facts.digest) == expected
    return True


# --- generated households: typical values, edge values, and values the contract refuses ------------

_TEXT = st.one_of(
    st.sampled_from(["Siti Aminah", "Jl. Mawar 5", "Nyoman Ayu Putri", "Büro", "Đặng", "  padded ", "x", "\u00a0nbsp",
                     "tab\there", 'quote"d', "back\\slash", "line\nbreak", "", "\u202eRLO", "a" * 201, "日本語"]),
    st.text(st.characters(codec="utf-8"), max_size=12),
)  # fmt: skip
_PREFIXES = sorted(district_nik_prefixes())[:50]
_NIK = st.one_of(
    st.builds(lambda p, d, m, y, s, f: f"{p}{d + (40 if f else 0):02d}{m:02d}{y:02d}{s:04d}",
              st.one_of(st.sampled_from(_PREFIXES), st.from_regex(r"\A[0-9]{6}\Z")), st.integers(0, 32),
              st.integers(0, 13), st.integers(0, 99), st.integers(0, 3), st.booleans()),
    st.from_regex(r"\A[0-9]{15,17}\Z"), st.just("17710141019O0001"),
)  # fmt: skip
_FLOAT = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10, 10**20),
                   st.sampled_from([0.5, 36.0, 100, 1e-4, 9.99e-5, 1e15, 1e16, 123456789.125, -0.0, "12"]))  # fmt: skip
_COUNT = st.one_of(st.integers(-2, 200), st.sampled_from([10**30, 2**64, 3.0, True, "4"]))
_DATE = st.one_of(st.dates(dt.date(1900, 1, 1), dt.date(2030, 1, 1)).map(str),
                  st.sampled_from(["2020-02-30", "2020-1-01", "2020-01-01T00:00:00", "01/02/2020", 20200101]))  # fmt: skip


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _enum(cls: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from([v.value for v in cls]), st.just("not-a-value"))


_MEMBER = st.fixed_dictionaries(
    {"nik": _NIK, "name": _TEXT, "birth_date": _DATE, "sex": _enum(Sex), "relation_to_head": _enum(RelationToHead)},
    optional={"marital_status": _maybe(_enum(attributes.MaritalStatus)), "attending_school": _maybe(st.booleans()),
              "occupation": _maybe(_TEXT), "disability": _maybe(_enum(attributes.DisabilityType)),
              "education": _maybe(_enum(attributes.EducationLevel)), "unknown_later_field": st.integers()},
)  # fmt: skip
_HOUSING = st.fixed_dictionaries(
    {}, optional={"tenure": _maybe(_enum(attributes.TenureStatus)), "floor_area_m2": _maybe(_FLOAT),
                  "electricity_capacity_va": _maybe(_COUNT), "roof_material": _maybe(_enum(attributes.RoofMaterial))},
)  # fmt: skip
_ASSETS = st.fixed_dictionaries(
    {}, optional={"bicycles": _maybe(_COUNT), "cattle": _maybe(_COUNT), "land_m2": _maybe(_FLOAT),
                  "refrigerator": _maybe(st.one_of(st.booleans(), st.just(1))), "other_house": _maybe(st.booleans())},
)  # fmt: skip
_VISIT = st.fixed_dictionaries(
    {"visit_date": _DATE, "officer": _TEXT},
    optional={"latitude": _maybe(_FLOAT), "longitude": _maybe(_FLOAT), "roof_photo_ref": _maybe(_TEXT)},
)
_CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "kk_number": _NIK, "village_code": st.sampled_from(["17.71.01.1001", "99.99.99.9999", "17.71.01", "17.71.01.100x"]),
        "address": st.fixed_dictionaries({"street": _TEXT}, optional={"rt": _maybe(st.sampled_from(["1", "001", "0001", "a"])),
                                                                     "postal_code": _maybe(st.sampled_from(["12345", "1234"]))}),
        "members": st.lists(_MEMBER, min_size=0, max_size=3),
        "housing": _maybe(_HOUSING), "assets": _maybe(_ASSETS), "field_visit": _maybe(_VISIT),
        "programs": st.lists(st.sampled_from([p.value for p in Program]), max_size=4),
        "welfare_decile": _maybe(st.fixed_dictionaries({"decile": st.integers(0, 11), "source": _TEXT, "as_of": _DATE})),
        "contact": _maybe(st.fixed_dictionaries({"phone": st.sampled_from(["+6281234567", "0812", "08123456789x"]),
                                                 "consent": st.booleans()})),
        "household_id": st.sampled_from([HID, "H-other", None]),
        "income_band": _maybe(_enum(attributes.IncomeBand)),
    },
)  # fmt: skip


def test_whatever_the_quick_path_accepts_the_contract_reads_alike() -> None:
    accepted = 0

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(changes=_CHANGES, corrected=st.booleans(), jsonb=st.booleans(), ascii_only=st.booleans(),
           decree=st.sampled_from(["1/HUK/2027", " 1/HUK/2027", "400.9/123/SK/DINSOS/2025"]))  # fmt: skip
    def agrees(changes: dict[str, Any], corrected: bool, jsonb: bool, ascii_only: bool, decree: str) -> None:
        nonlocal accepted
        event_type = HouseholdCorrected if corrected else HouseholdRegistered
        payload = {**snapshot_payload(a_household(**changes)), "decree_number": decree}
        if corrected:
            payload["changed_fields"] = ["address"]
        accepted += assert_agrees(
            event_type, envelope_bytes(event_type, payload, jsonb=jsonb, ascii_only=ascii_only)
        )

    agrees()
    # The generated events are mostly malformed on purpose, yet many must take the quick path, or
    # this test would prove nothing about it.
    assert accepted >= 30


def test_the_quick_canonical_bytes_are_the_contracts() -> None:
    compared = 0

    @settings(max_examples=300, deadline=None)
    @given(changes=_CHANGES)
    def same_bytes(changes: dict[str, Any]) -> None:
        nonlocal compared
        raw = json.dumps(a_household(**changes), ensure_ascii=False).encode()
        try:
            contract = canonical_json(
                Household.model_validate_json(raw, extra="ignore", context=dict(HISTORICAL_READ))
            )
        except ValueError:
            return
        value = envelope_bytes(HouseholdRegistered, snapshot_payload(json.loads(raw)))
        if QuickReader().read(HouseholdRegistered.event_type, value) is None:
            return  # declined: the contract's own bytes are used
        mirror = msgspec.json.decode(raw, type=quick_read.Household)
        assert canonical_household_bytes(mirror) == contract
        compared += 1

    same_bytes()
    assert compared >= 30


def test_a_typical_snapshot_is_read_by_the_quick_path_in_both_spellings() -> None:
    # Without this, the quick path could decline everything and the auditor would only be slow.
    full = a_household(
        housing={"tenure": "owned", "floor_area_m2": 36, "electricity_capacity_va": 900},
        assets={"bicycles": 2, "land_m2": 120.5, "refrigerator": True},
        field_visit={"visit_date": "2026-11-02", "officer": "Budi", "latitude": -6.2, "longitude": 106.8},
        welfare_decile={"decile": 3, "source": "BPS DTSEN", "as_of": "2026-10-01"},
        programs=["BPNT", "PKH"],
    )  # fmt: skip
    for jsonb in (False, True):
        assert assert_agrees(
            HouseholdRegistered, envelope_bytes(HouseholdRegistered, snapshot_payload(full), jsonb=jsonb)
        )
        corrected = snapshot_payload(full, changed_fields=["housing"], programs_added=["BPNT"])
        assert assert_agrees(HouseholdCorrected, envelope_bytes(HouseholdCorrected, corrected, jsonb=jsonb))
    deactivated = {"household_id": HID, "decree_number": "1/HUK/2027", "kk_number": "1771010000000001",
                   "reason": "moved_away", "proposal_id": "p"}  # fmt: skip
    assert assert_agrees(HouseholdDeactivated, envelope_bytes(HouseholdDeactivated, deactivated))


@pytest.mark.parametrize(
    "changes",
    [
        {"members": [{**a_household()["members"][0], "nik": "1771014113900001"}]},  # birth month 13
        {"village_code": "17.71.01"},  # a district's code, not a village's
        {"members": []},
        {"field_visit": {"visit_date": "2026-11-02", "officer": "Budi", "latitude": -6.2}},  # half a position
        {"assets": {"bicycles": -1}},
        {"household_id": "H-someone-else"},
    ],
    ids=[
        "impossible-nik",
        "village-code",
        "no-members",
        "half-position",
        "negative-count",
        "other-household",
    ],
)
def test_a_malformed_snapshot_is_reported_as_undecodable_and_not_folded(changes: dict[str, Any]) -> None:
    good = envelope_bytes(HouseholdRegistered, snapshot_payload(a_household()))
    bad = envelope_bytes(HouseholdRegistered, snapshot_payload(a_household(**changes)))
    assert QuickReader().read(HouseholdRegistered.event_type, bad) is None
    fold = LogFold()
    fold.add(Record("t", 0, 0, good))
    fold.add(Record("t", 0, 1, bad))
    assert [(u[2], u[0]) for u in fold.undecodable] == [(1, "t")]
    good_facts = QuickReader().read(HouseholdRegistered.event_type, good)
    assert good_facts is not None
    assert [c[:3] for c in fold.changes["1/HUK/2027"]] == [
        (good_facts.household_id, "registered", good_facts.digest)
    ]


def test_an_actor_the_contract_refuses_is_refused_even_after_good_ones() -> None:
    payload = snapshot_payload(a_household())
    reader = QuickReader()
    assert (
        reader.read(HouseholdRegistered.event_type, envelope_bytes(HouseholdRegistered, payload)) is not None
    )
    # A ministry role scoped to one village: the contract's region rule refuses it.
    wrong = {"subject": "menteri", "role": Role.MINISTRY_DETERMINER.value, "region": "17.71.01.1001"}
    value = envelope_bytes(HouseholdRegistered, payload, actor=wrong)
    assert reader.read(HouseholdRegistered.event_type, value) is None
    assert by_contract(value) is None


def test_the_fold_keeps_the_registrys_digest_whichever_path_read_the_snapshot() -> None:
    beyond = a_household(assets={"land_m2": 1e16, "bicycles": 10**30})  # declined: the contract reads it
    for h in (a_household(), beyond):
        value = envelope_bytes(HouseholdRegistered, snapshot_payload(h))
        fold = LogFold()
        fold.add(Record("t", 0, 0, value))
        expected = household_digest(Household.model_validate(h, context=dict(HISTORICAL_READ)))
        [(_, _, digest, _)] = fold.changes["1/HUK/2027"]
        assert digest == expected
        assert not fold.undecodable
