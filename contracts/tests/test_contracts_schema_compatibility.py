"""The compatibility checker, exercised on modified copies of real schemas (never on the files)."""

import copy

import pytest

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import ProposalSubmitted
from dtks_contracts.schema_compatibility import find_incompatibilities, is_backward_compatible
from dtks_contracts.schemas import build_schema


@pytest.fixture
def old() -> dict:
    return build_schema(ProposalSubmitted, "proposal.submitted", 1)


def problems(old: dict, new: dict) -> list[str]:
    return [str(p) for p in find_incompatibilities(old, new)]


def test_identical_schemas_are_compatible(old):
    assert problems(old, copy.deepcopy(old)) == []


def test_changed_descriptions_and_titles_are_compatible(old):
    new = copy.deepcopy(old)
    new["properties"]["proposal_id"]["description"] = "reworded"
    new["$defs"]["Member"]["title"] = "Person"
    assert problems(old, new) == []


def test_removed_property_fails(old):
    new = copy.deepcopy(old)
    del new["properties"]["programs_requested"]
    assert problems(old, new) == ["$.programs_requested: property removed"]


def test_removed_property_in_a_nested_model_fails(old):
    new = copy.deepcopy(old)
    del new["$defs"]["Member"]["properties"]["occupation"]
    assert problems(old, new) == ["$.household.members[].occupation: property removed"]


def test_retyped_property_fails(old):
    new = copy.deepcopy(old)
    new["properties"]["round"]["type"] = "string"
    assert problems(old, new) == ["$.round: type changed from ['integer'] to ['string']"]


def test_retyped_property_behind_a_ref_fails(old):
    new = copy.deepcopy(old)
    new["$defs"]["Member"]["properties"]["birth_date"] = {"type": "integer"}
    assert problems(old, new) == [
        "$.household.members[].birth_date: type changed from ['string'] to ['integer']"
    ]


def test_integer_widened_to_number_passes(old):
    new = copy.deepcopy(old)
    new["properties"]["round"]["type"] = "number"
    assert problems(old, new) == []


def test_new_required_property_fails(old):
    new = copy.deepcopy(old)
    new["properties"]["quota_id"] = {"type": "string"}
    new["required"].append("quota_id")
    assert problems(old, new) == ["$.quota_id: new required property"]


def test_new_required_property_in_a_nested_model_fails(old):
    new = copy.deepcopy(old)
    member = new["$defs"]["Member"]
    member["properties"]["religion"] = {"type": "string"}
    member["required"].append("religion")
    assert problems(old, new) == ["$.household.members[].religion: new required property"]


def test_added_optional_property_passes(old):
    new = copy.deepcopy(old)
    new["properties"]["quota_id"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    new["$defs"]["Member"]["properties"]["religion"] = {"type": "string"}
    assert problems(old, new) == []
    assert is_backward_compatible(old, new)


def test_optional_property_made_required_fails(old):
    new = copy.deepcopy(old)
    new["required"].append("idempotency_key")
    assert problems(old, new) == ["$.idempotency_key: optional property became required"]


def test_narrowed_enum_fails(old):
    new = copy.deepcopy(old)
    new["$defs"]["ProposalKind"]["enum"].remove("correction")
    assert problems(old, new) == ["$.kind: enum narrowed: removed ['\"correction\"']"]


def test_narrowed_enum_inside_an_array_of_refs_fails(old):
    new = copy.deepcopy(old)
    new["$defs"]["Program"]["enum"].remove("BLT")
    assert problems(old, new) == [
        "$.household.programs[]: enum narrowed: removed ['\"BLT\"']",
        "$.programs_requested[]: enum narrowed: removed ['\"BLT\"']",
    ]


def test_widened_enum_passes(old):
    new = copy.deepcopy(old)
    new["$defs"]["Program"]["enum"].append("KIP_KULIAH")
    assert problems(old, new) == []


def test_nullable_removed_fails_and_nullable_added_passes(old):
    new = copy.deepcopy(old)
    new["properties"]["idempotency_key"] = new["properties"]["idempotency_key"]["anyOf"][0]
    assert problems(old, new) == ["$.idempotency_key: no longer accepts type ['null']"]
    assert problems(new, old) == []


def test_tightened_constraints_fail_and_loosened_ones_pass(old):
    shorter = copy.deepcopy(old)
    shorter["$defs"]["Member"]["properties"]["name"]["maxLength"] = 100
    assert problems(old, shorter) == ["$.household.members[].name: maxLength lowered from 200 to 100"]
    assert problems(shorter, old) == []

    stricter = copy.deepcopy(old)
    stricter["properties"]["round"]["minimum"] = 2
    assert problems(old, stricter) == ["$.round: lower bound tightened from 1.0 to 2.0"]
    exclusive_equivalent = copy.deepcopy(old)
    del exclusive_equivalent["properties"]["round"]["minimum"]
    exclusive_equivalent["properties"]["round"]["exclusiveMinimum"] = 0
    assert problems(old, exclusive_equivalent) == []

    repatterned = copy.deepcopy(old)
    repatterned["$defs"]["Address"]["properties"]["postal_code"]["anyOf"][0]["pattern"] = "^[0-9]{6}$"
    assert problems(old, repatterned) == [
        "$.household.address.postal_code: pattern changed from '^[0-9]{5}$' to '^[0-9]{6}$'"
    ]


def test_forbidding_extra_entries_of_a_map_fails():
    old = build_schema(EventEnvelope, "envelope", 1)
    new = copy.deepcopy(old)
    new["properties"]["trace_context"]["additionalProperties"] = {"type": "integer"}
    assert problems(old, new) == ["$.trace_context.*: type changed from ['string'] to ['integer']"]
    new["properties"]["payload"]["additionalProperties"] = False
    assert "$.payload: additional properties are now forbidden" in problems(old, new)


def test_recursive_schemas_terminate():
    old = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}, "v": {"type": "string"}},
            }
        },
        "$ref": "#/$defs/Node",
    }
    new = copy.deepcopy(old)
    assert problems(old, new) == []
    new["$defs"]["Node"]["properties"]["v"]["type"] = "integer"
    assert problems(old, new) == ["$.v: type changed from ['string'] to ['integer']"]


def test_broken_refs_are_reported_not_ignored(old):
    new = copy.deepcopy(old)
    del new["$defs"]["Member"]
    with pytest.raises(ValueError, match="points at nothing"):
        find_incompatibilities(old, new)
