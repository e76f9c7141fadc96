"""The pure rules: query forms read into the register's query, decile bounds, pagination, signatures."""

from __future__ import annotations

import json

import pytest

from dtks_dci.domain.envelope import Rejection
from dtks_dci.domain.queries import read_criteria
from dtks_dci.domain.signing import SignatureError, canonical, public_key, verify
from dtks_dci.domain.subscriptions import matches, read_subscription
from dtks_dci.testing import new_agency_key


def _predicate(*terms: tuple[str, str, object]) -> dict[str, object]:
    items = [{"seq_num": i, "expression1": {"attribute_name": a, "operator": o, "attribute_value": v}}
             for i, (a, o, v) in enumerate(terms)]  # fmt: skip
    return {"query_type": "predicate", "query": items}


def test_poverty_score_bounds_become_whole_deciles():
    query = read_criteria(_predicate(("poverty_score", "lt", "2.5"), ("poverty_score", "gt", 0))).query
    assert (query.decile_min, query.decile_max) == (1, 2)
    query = read_criteria(_predicate(("poverty_score", "ge", 3), ("poverty_score", "le", 4))).query
    assert (query.decile_min, query.decile_max) == (3, 4)
    with pytest.raises(Rejection, match="no decile"):
        read_criteria(_predicate(("poverty_score", "lt", 3), ("poverty_score", "gt", 5)))


def test_an_expression_reads_like_the_same_predicate():
    expression = {"query_type": "expression", "query": {"type": "expression", "value": {"expression": {
        "collection": "Group", "query": {"$and": [{"location": {"$eq": "17.71.01"}}, {"poverty_score": {"$lte": 3}}]}}}}}  # fmt: skip
    predicate = _predicate(("location", "eq", "17.71.01"), ("poverty_score", "le", 3))
    assert read_criteria(expression).query == read_criteria(predicate).query


@pytest.mark.parametrize(
    ("criteria", "code"),
    [
        ({"query_type": "idtype-value", "query": {"type": "NIK", "value": "123"}}, "rjct.search_criteria.invalid"),
        ({"query_type": "expression", "query": {"type": "e", "value": {"expression": {"query": {"$or": []}}}}},
         "rjct.search_criteria.invalid"),
        (_predicate(("location", "eq", "99.99")), "rjct.filter.invalid"),
        ({"query_type": "idtype-value", "query": {"type": "KK", "value": "1771010000000001"},
          "pagination": {"page_size": 5000}}, "rjct.pagination.invalid"),
        ({"query_type": "idtype-value", "query": {"type": "KK", "value": "1771010000000001"},
          "pagination": {"page_size": 10, "page_number": 0}}, "rjct.pagination.invalid"),
    ],
)  # fmt: skip
def test_what_the_register_cannot_answer_is_refused_with_the_standards_code(criteria, code):
    with pytest.raises(Rejection) as refused:
        read_criteria(criteria)
    assert refused.value.reason_code == code


def test_a_subscription_filter_hears_deactivations_unless_it_asks_for_a_status():
    query, entity = read_subscription({"reg_event_type": "REGISTER", "filter_type": "predicate",
                                       "filter": _predicate(("location", "eq", "17.71"))["query"], "notify_record_type": "Member"})  # fmt: skip
    household = {"household": {"members": [{"nik": "1771014101900001"}]}, "kk_number": "1771010000000001",
                 "village_code": "17.71.01.1001", "programs": ["PKH"], "status": "deactivated"}  # fmt: skip
    assert entity == "Member" and matches(query, household)
    assert not matches(query, {**household, "village_code": "16.71.01.1001"})


def test_a_signature_is_bound_to_its_sender_header_and_time():
    key = new_agency_key("k")
    keys = {"k": public_key(key.public_bytes())}
    header, message = {"sender_id": "a", "message_id": "1"}, {"x": 1}
    signature = key.sign("a", header, message, at=1_000_000)
    assert verify(signature, header, message, keys, now=1_000_010) == "k"
    with pytest.raises(SignatureError, match="expired"):
        verify(signature, header, message, keys, now=1_000_000 + 400)
    with pytest.raises(SignatureError, match="another sender"):
        verify(signature, {**header, "sender_id": "b"}, message, keys, now=1_000_010)
    with pytest.raises(SignatureError, match="does not match"):
        verify(signature, {**header, "message_id": "2"}, message, keys, now=1_000_010)


def test_a_signed_body_is_serialised_once_and_its_signature_verifies_over_its_own_header_and_message():
    key = new_agency_key("ours")
    header = {"message_id": "m-1", "sender_id": "dtks", "action": "on-search", "total_count": 1}
    message = {
        "transaction_id": "t-1",
        "search_response": [{"reference_id": "r", "name": "Siti Aminah", "n": 2}],
    }
    body = key.signed_body("dtks", header, message)
    parsed = json.loads(body)
    assert list(parsed) == ["header", "message", "signature"]
    assert parsed["header"] == header and parsed["message"] == message
    assert body.decode().startswith(canonical(header, message)[:-1] + ',"signature":')
    assert (
        verify(
            parsed["signature"], parsed["header"], parsed["message"], {"ours": public_key(key.public_bytes())}
        )
        == "ours"
    )
    with pytest.raises(SignatureError, match="does not match"):
        verify(
            parsed["signature"],
            header,
            {**message, "transaction_id": "t-2"},
            {"ours": public_key(key.public_bytes())},
        )
