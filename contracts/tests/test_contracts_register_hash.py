import pytest

from dtks_contracts.register_hash import (
    canonical_json,
    household_digest,
    register_digest,
    register_digest_of,
)


def test_household_digest_depends_on_content_only(make_household):
    a = make_household(household_id="H-1")
    assert household_digest(a) == household_digest(make_household(household_id="H-1"))
    assert household_digest(a) != household_digest(make_household(household_id="H-1", income_band="below_1m"))
    assert b" " not in canonical_json(a).replace(b"Siti Aminah", b"").replace(b"Budi Santoso", b"").replace(
        b"Jl. Pagar Dewa No. 7", b""
    )
    assert b"null" not in canonical_json(a)  # defaults are left out: adding optional fields keeps digests


def test_register_digest_is_independent_of_input_order(make_household):
    one = make_household(household_id="H-1")
    two = make_household(household_id="H-2", kk_number="1771010101200002")
    assert register_digest_of([one, two]) == register_digest_of([two, one])
    assert register_digest_of([one, two]) != register_digest_of([one])
    assert len(register_digest_of([one])) == 64


def test_streamed_entries_must_be_sorted_and_unique():
    register_digest([("H-1", "aa"), ("H-2", "bb")])
    with pytest.raises(ValueError, match="sorted"):
        register_digest([("H-2", "bb"), ("H-1", "aa")])
    with pytest.raises(ValueError, match="sorted"):
        register_digest([("H-1", "aa"), ("H-1", "aa")])


def test_every_household_needs_its_register_id(make_household):
    with pytest.raises(ValueError, match="no register id"):
        register_digest_of([make_household()])
