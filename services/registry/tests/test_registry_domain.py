"""The registry's pure core: determination rule, periods, masking, rate limiting, causal order, deciles."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from dtks_contracts.household import Address
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_registry.domain.determination import Candidate, InForce, decide
from dtks_registry.domain.history import HistoryEntry, causal_order
from dtks_registry.domain.identity import (
    HOUSEHOLD_NAMESPACE,
    household_id_for,
    institution_id_for,
    name_based_id,
)
from dtks_registry.domain.masking import mask_name, normalize_name
from dtks_registry.domain.periods import InvalidPeriod, parse_period, period_text
from dtks_registry.domain.welfare import CurrentDecile, DecileItem, Standing, decide_deciles
from dtks_registry.testing import make_household

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CUTOFF = dt.datetime(2026, 12, 31, 16, 59, 59, tzinfo=dt.UTC)


def new(pid: str, i: int, at: dt.datetime = T0) -> Candidate:
    return Candidate(
        pid, ProposalKind.NEW_HOUSEHOLD, at, household=make_household(i), programs_requested=(Program.BPNT,)
    )


def in_force(i: int, hid: str, *, active: bool = True) -> InForce:
    return InForce(
        make_household(i, household_id=hid, programs=(Program.PKH,)), active, T0 - dt.timedelta(days=90)
    )


def test_new_households_up_to_the_cutoff_enter_under_ids_derived_from_their_proposals():
    late = new("p-late", 2, CUTOFF + dt.timedelta(seconds=1))
    decision = decide([new("p-1", 1), late], {}, CUTOFF)
    [registration] = decision.registrations
    assert registration.household.household_id == household_id_for("p-1") == household_id_for("p-1")
    assert household_id_for("p-1") != household_id_for("p-2")
    assert registration.household.programs == (Program.BPNT,)


def test_deactivation_wins_over_a_correction_and_the_latest_correction_wins_over_older_ones():
    h1, h2 = "hh-1", "hh-2"
    register = {h1: in_force(1, h1), h2: in_force(2, h2)}
    fixed = make_household(1, address=Address(street="Jl. Baru 1"), programs=(Program.PKH,))
    pending = [
        Candidate("c-old", ProposalKind.CORRECTION, T0, household=make_household(1), target_household_id=h1),
        Candidate("c-new", ProposalKind.CORRECTION, T0 + dt.timedelta(hours=1), household=fixed, target_household_id=h1),
        Candidate("c-2", ProposalKind.CORRECTION, T0, household=make_household(2), target_household_id=h2),
        Candidate("d-2", ProposalKind.DEACTIVATION, T0, target_household_id=h2, deactivation_reason=DeactivationReason.DIED),
    ]  # fmt: skip
    decision = decide(pending, register, CUTOFF)
    [correction] = decision.corrections
    assert correction.proposal_id == "c-new" and correction.household.household_id == h1
    assert correction.changed_fields == ("address",)
    assert correction.household.programs == (Program.PKH,)  # the corrected record's programs
    assert (correction.programs_added, correction.programs_removed) == ((), ())
    [deactivation] = decision.deactivations
    assert (deactivation.household_id, deactivation.reason) == (h2, DeactivationReason.DIED)
    assert {n.proposal_id for n in decision.not_applied} == {"c-old", "c-2"}


def test_a_correction_takes_a_household_out_of_a_program_and_into_another_and_says_which():
    register = {"hh-1": in_force(1, "hh-1")}  # receives PKH
    corrected = make_household(1, programs=(Program.BPNT,))
    pending = [
        Candidate("c-1", ProposalKind.CORRECTION, T0, household=corrected, target_household_id="hh-1",
                  programs_requested=(Program.PIP,)),
    ]  # fmt: skip
    [correction] = decide(pending, register, CUTOFF).corrections
    assert correction.household.programs == (Program.BPNT, Program.PIP)
    assert correction.programs_added == (Program.BPNT, Program.PIP)
    assert correction.programs_removed == (Program.PKH,)
    assert correction.changed_fields == ("programs",)


def test_changes_to_households_not_active_or_already_overtaken_are_reported_not_applied():
    register = {"gone": in_force(1, "gone", active=False), "kept": in_force(2, "kept")}
    pending = [
        Candidate("c-gone", ProposalKind.CORRECTION, T0, household=make_household(1), target_household_id="gone"),
        Candidate("c-unknown", ProposalKind.CORRECTION, T0, household=make_household(3), target_household_id="nope"),
        Candidate("c-stale", ProposalKind.CORRECTION, T0 - dt.timedelta(days=100), household=make_household(2),
                  target_household_id="kept"),
    ]  # fmt: skip
    decision = decide(pending, register, CUTOFF)
    assert not decision.changes_anything
    assert [n.proposal_id for n in sorted(decision.not_applied, key=lambda n: n.proposal_id)] == [
        "c-gone", "c-stale", "c-unknown"
    ]  # fmt: skip


def test_the_decision_does_not_depend_on_the_order_candidates_are_given():
    pending = [new(f"p-{i}", i, T0 + dt.timedelta(minutes=i)) for i in range(8)]
    a = decide(pending, {}, CUTOFF)
    b = decide(list(reversed(pending)), {}, CUTOFF)
    assert a == b


@pytest.mark.parametrize("text", ["2027-02", "2027-1", "27-01", "2027-13", "1999-01"])
def test_periods_are_quarter_starts_written_yyyy_mm(text):
    with pytest.raises(InvalidPeriod):
        parse_period(text)


def test_period_round_trip():
    assert parse_period("2027-07").quarter == 3
    assert period_text(parse_period("2027-10")) == "2027-10"


def test_names_are_compared_loosely_and_masked_to_initials():
    assert normalize_name("  SITI   aminah ") == normalize_name("Siti Aminah")
    assert mask_name("Siti Aminah") == "S*** A*****"


def test_an_event_never_comes_before_its_cause_even_with_an_earlier_clock():
    cause = HistoryEntry("1", T0, None, {"n": "cause"})
    effect = HistoryEntry("2", T0 - dt.timedelta(seconds=2), "1", {"n": "effect"})
    other = HistoryEntry("3", T0 - dt.timedelta(seconds=1), None, {"n": "other"})
    assert [e.event_id for e in causal_order([effect, other, cause])] == ["3", "1", "2"]


def test_events_of_one_stream_at_the_same_instant_keep_their_stream_order():
    # The Ministry's second integrity check and its acceptance: one transaction, one timestamp, the
    # acceptance's id sorting first. Before: listed acceptance first (timestamp, then id).
    stream = ("verification", "proposal", "p-1")
    check = HistoryEntry("b-check", T0, "cmd", {"n": "check"}, stream, 7)
    accepted = HistoryEntry("a-accepted", T0, "cmd", {"n": "accepted"}, stream, 8)
    # Another service's stream of the same proposal id has unrelated versions: no order imposed.
    submitted = HistoryEntry(
        "c-submitted", T0 - dt.timedelta(minutes=5), None, {"n": "s"}, ("proposal", "proposal", "p-1"), 9
    )
    ordered = causal_order([accepted, check, submitted])
    assert [e.event_id for e in ordered] == ["c-submitted", "b-check", "a-accepted"]


def test_a_decile_item_changes_a_household_only_when_decile_source_or_date_differ():
    q4 = dt.date(2026, 11, 1)
    standing = {
        "same": Standing(True, None, CurrentDecile(3, "BPS Q4", q4)),
        "other-source": Standing(True, None, CurrentDecile(3, "BPS Q3", q4)),
        "unset": Standing(True, None, None),
        "newer": Standing(True, None, CurrentDecile(3, "BPS 2027", dt.date(2027, 2, 1))),
        "gone": Standing(False, "2/HUK/2027", None),
    }
    items = [DecileItem(i, h, d) for i, (h, d) in enumerate(
        [("same", 3), ("other-source", 3), ("unset", 1), ("newer", 5), ("gone", 2), ("nobody", 2),
         ("unset", 4), ("same", 0)]
    )]  # fmt: skip
    outcomes = decide_deciles(items, "BPS Q4", q4, standing)
    assert [(o.changed, o.refusal.code if o.refusal else None) for o in outcomes] == [
        (False, None), (True, None), (True, None), (False, "older_ranking"), (False, "household_deactivated"),
        (False, "household_not_found"), (False, "duplicate_in_batch"), (False, "decile_out_of_range"),
    ]  # fmt: skip


def test_register_ids_are_the_uuid5_of_their_proposal_as_they_always_were() -> None:
    """The ids are the register's keys and in every decree's hash: the faster derivation must give
    uuid5's text for any name, whatever its characters and length."""
    rng = random.Random(21)
    alphabet = 'abcXYZ019-_./ é\u00f1\u4e2d\U0001f600\u2028"\\'
    names = ["", "p-1", *("".join(rng.choices(alphabet, k=rng.randint(1, 80))) for _ in range(2000))]
    namespaces = [HOUSEHOLD_NAMESPACE, uuid.NAMESPACE_DNS, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    for namespace in namespaces:
        for name in names:
            assert name_based_id(namespace, name) == str(uuid.uuid5(namespace, name))
    assert household_id_for("p-1") == str(uuid.uuid5(HOUSEHOLD_NAMESPACE, "p-1"))
    assert institution_id_for("p-1") != household_id_for("p-1")


def test_a_candidate_knows_its_household_when_made() -> None:
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert Candidate("p-9", ProposalKind.NEW_HOUSEHOLD, at).household_id == household_id_for("p-9")
    assert Candidate("p-8", ProposalKind.CORRECTION, at, target_household_id="h-1").household_id == "h-1"
    with pytest.raises(ValueError, match=r"p-7 .* names no household"):
        Candidate("p-7", ProposalKind.DEACTIVATION, at)
