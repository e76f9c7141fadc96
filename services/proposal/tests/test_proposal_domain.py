"""The pure core: door rules, status moves, windows, bulk rows. Milliseconds, no infrastructure."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_contracts.vocabulary.reasons import ReasonCode
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import Tier
from dtks_proposal.domain import status
from dtks_proposal.domain.bulk_file import FileRefused, build_household, parse_file, plan_staging
from dtks_proposal.domain.submission import ProposalIn, door_errors, submitted_event
from dtks_proposal.domain.windows import Window, admits
from dtks_proposal.testing import VILLAGE, csv_bytes, jsonl_bytes, rows_of, sample_bodies, xlsx_bytes
from dtks_runtime.auth.principal import Principal

BODIES = sample_bodies(6)
DEFAULTS = {
    "deliberation_kind": "muskel",
    "deliberation_held_on": "2026-10-01",
    "deliberation_minutes_ref": "BA-1",
}


def _body(**changes: Any) -> dict[str, Any]:
    return {**BODIES[0], **changes}


def _fields(body: dict[str, Any]) -> set[str]:
    return {e.field for e in door_errors(ProposalIn.model_validate(body))}


def test_a_clean_synthetic_proposal_passes_the_door_and_becomes_a_submitted_event() -> None:
    proposal = ProposalIn.model_validate(BODIES[0])
    assert door_errors(proposal) == []
    actor = Principal("op", Role.VILLAGE_OPERATOR, VILLAGE).as_actor()
    event = submitted_event(proposal, "p-1", actor, None)
    assert event.round == 1 and event.household is not None and event.deliberation is not None


def test_a_second_head_and_a_repeated_nik_are_named_by_member() -> None:
    household = dict(BODIES[0]["household"])
    members = [dict(m) for m in household["members"]]
    assert len(members) >= 2
    members[1]["relation_to_head"] = "head"
    members.append(dict(members[0], relation_to_head="child"))
    household["members"] = members
    fields = _fields(_body(household=household))
    assert "household.members[1].relation_to_head" in fields
    assert f"household.members[{len(members) - 1}].nik" in fields


def test_required_fields_depend_on_the_kind() -> None:
    assert _fields(_body(kind="correction")) == {"household_id"}
    deactivation = {k: v for k, v in BODIES[0].items() if k != "household"} | {"kind": "deactivation"}
    assert _fields(deactivation) == {"household_id", "reason", "evidence_note"}
    words = deactivation | {"household_id": "H-1", "reason": "moved", "evidence_note": "moved to Padang"}
    proposal = ProposalIn.model_validate(words)
    assert door_errors(proposal) == []
    actor = Principal("op", Role.VILLAGE_OPERATOR, VILLAGE).as_actor()
    assert submitted_event(proposal, "p", actor, None).deactivation_reason is DeactivationReason.MOVED_AWAY


def test_a_proposal_made_of_a_life_event_names_it_in_its_event_and_a_new_household_cannot() -> None:
    actor = Principal("op", Role.VILLAGE_OPERATOR, VILLAGE).as_actor()
    deactivation = {k: v for k, v in BODIES[0].items() if k != "household"} | {
        "kind": "deactivation",
        "household_id": "H-1",
        "reason": "died",
        "evidence_note": "Dukcapil DUK-7: the only member died",
        "civil_registry_ref": "DUK-7",
    }
    proposal = ProposalIn.model_validate(deactivation)
    assert door_errors(proposal) == []
    assert submitted_event(proposal, "p", actor, None).civil_registry_ref == "DUK-7"
    assert _fields(_body(kind="correction", household_id="H-1", civil_registry_ref="DUK-8")) == set()
    assert _fields(_body(civil_registry_ref="DUK-9")) == {"civil_registry_ref"}
    # A proposal without it keeps the fingerprint it had before the field existed.
    plain = ProposalIn.model_validate(BODIES[0])
    assert "civil_registry_ref" not in plain.model_dump_json()
    assert submitted_event(plain, "p", actor, None).civil_registry_ref is None


def test_returned_proposals_alone_can_be_resubmitted_and_decided_ones_not_withdrawn() -> None:
    s = status.entered(1)
    assert not s.can_resubmit() and s.can_withdraw()
    s = status.verified_at(s, 1, Tier.DISTRICT)
    assert s.waiting_at == "regency"
    s = status.returned_at(s, 1)
    assert s.can_resubmit() and s.waiting_at == "village"
    s = status.entered(2)
    assert status.returned_at(s, 1) == s  # a decision about the previous round moves nothing
    s = status.accepted(s, 2)
    assert not s.can_withdraw() and not s.can_resubmit()


def test_windows_say_why_and_until_when() -> None:
    today = dt.date(2026, 11, 10)
    assert admits(None, today) is None
    later = Window("17.71", False, dt.date(2026, 12, 1), dt.date(2026, 12, 31), None, 0)
    refusal = admits(later, today)
    assert refusal is not None and refusal.code is ReasonCode.PROPOSAL_WINDOW_CLOSED
    assert refusal.until == dt.date(2026, 12, 1) and "2026-12-01" in refusal.message
    full = Window("17.71", True, dt.date(2026, 11, 1), dt.date(2026, 11, 30), 5, 5)
    refusal = admits(full, today)
    assert (
        refusal is not None
        and refusal.code is ReasonCode.QUOTA_EXCEEDED
        and refusal.until == dt.date(2026, 12, 1)
    )


@pytest.mark.parametrize("encode,name", [(csv_bytes, "f.csv"), (jsonl_bytes, "f.jsonl")])
def test_bad_rows_are_reported_with_row_field_and_reason_and_good_households_pass(
    encode: Any, name: str
) -> None:
    rows = rows_of(BODIES)
    rows[1]["relation_to_head"] = "head"  # household 1: a second head on file row 3 (CSV) / line 2
    plan = plan_staging(parse_file(encode(rows), name))
    groups: dict[int | None, list[tuple[int, dict[str, Any]]]] = {}
    for number, group, row in plan.rows:
        groups.setdefault(group, []).append((number, row))
    outcomes = [build_household(kk, groups[g], DEFAULTS, VILLAGE) for g, kk, _ in plan.households]
    assert len(outcomes) == len(BODIES)
    rejected = outcomes[0][1]
    assert outcomes[0][0] is None and len(rejected) == len(BODIES[0]["household"]["members"])
    first_row = 2 if name.endswith(".csv") else 1
    assert any(r.row == first_row + 1 and r.field == "relation_to_head" for r in rejected)
    assert all(p is not None and not r for p, r in outcomes[1:])


def test_a_workbooks_first_sheet_gives_the_rows_its_csv_would_with_the_sheets_row_numbers() -> None:
    rows = rows_of(BODIES)
    rows[1]["relation_to_head"] = "head"  # a second head, as in the CSV test above
    book = parse_file(xlsx_bytes(rows), "daftar.xlsx")
    assert book.format == "xlsx"
    # KK numbers typed as numbers, dates as dates: read back as the text the CSV holds, so every
    # household comes out the same (a floor area the CSV writes 59.0 the sheet shows as 59).
    assert [n for n, _ in book.rows] == list(range(2, len(rows) + 2))
    assert _outcomes(book) == _outcomes(parse_file(csv_bytes(rows), "daftar.csv"))
    assert book.rows[0][1]["kk_number"] == rows[0]["kk_number"]
    assert book.rows[0][1]["birth_date"] == rows[0]["birth_date"]
    # A blank sheet row is counted, as a blank CSV line is: row numbers are the sheet's own.
    spaced = parse_file(xlsx_bytes(rows, blank_rows_before=[2]), "daftar.xlsx")
    assert [n for n, _ in spaced.rows] == [2, 3, *range(5, len(rows) + 3)]
    # Recognised by its content too, whatever its name.
    assert parse_file(xlsx_bytes(rows), "upload").format == "xlsx"
    first, *others = _outcomes(book)
    assert first[0] is None and any(r.row == 3 and r.field == "relation_to_head" for r in first[1])
    assert all(p is not None for p, _ in others)


def _outcomes(parsed: Any) -> list[tuple[Any, list[Any]]]:
    plan = plan_staging(parsed)
    groups: dict[int | None, list[tuple[int, dict[str, Any]]]] = {}
    for number, group, row in plan.rows:
        groups.setdefault(group, []).append((number, row))
    return [build_household(kk, groups[g], DEFAULTS, VILLAGE) for g, kk, _ in plan.households]


def test_a_file_named_xlsx_that_is_no_workbook_is_refused_whole() -> None:
    with pytest.raises(FileRefused, match="Excel"):
        parse_file(b"kk_number,nik\n1,2\n", "daftar.xlsx")


def test_a_file_without_the_member_columns_is_refused_whole() -> None:
    with pytest.raises(FileRefused, match="nik"):
        parse_file(b"kk_number,name\n1771010406240001,Budi\n", "f.csv")


def test_a_file_read_row_by_row_is_refused_whole_when_it_stops_being_utf8_far_down() -> None:
    rows = rows_of(BODIES)
    good = csv_bytes(rows * 400)  # well past the decoder's first reads and a chunk of rows
    with pytest.raises(FileRefused, match="UTF-8"):
        parse_file(good + b"1771010406240001,\xff\xfe\n", "f.csv")
    assert len(parse_file(b"\xef\xbb\xbf" + good, "f.csv").rows) == len(rows) * 400  # a BOM is fine


def test_a_fingerprint_tells_a_retry_from_another_request_whatever_the_key_order() -> None:
    body = _body()
    reordered = dict(reversed(list(body.items())))
    reordered["household"] = dict(reversed(list(body["household"].items())))
    proposal = ProposalIn.model_validate(body)
    assert ProposalIn.model_validate(reordered).fingerprint() == proposal.fingerprint()
    other = ProposalIn.model_validate(_body(programs=["PKH"]))
    assert other.fingerprint() != proposal.fingerprint()
    assert proposal.same_as(proposal.fingerprint()) and not other.same_as(proposal.fingerprint())


def test_an_answer_stored_with_the_first_releases_fingerprint_still_matches_its_retry() -> None:
    import hashlib
    import json

    proposal = ProposalIn.model_validate(_body())
    canonical = json.dumps(proposal.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    stored = hashlib.sha256(canonical.encode()).hexdigest()
    assert proposal.same_as(stored)
    assert not ProposalIn.model_validate(_body(programs=["PKH"])).same_as(stored)
