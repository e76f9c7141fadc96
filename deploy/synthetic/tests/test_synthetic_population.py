"""The generator's promises: determinism, valid and unique identifiers, plausible families, sizes."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from dtks_contracts.household import Household
from dtks_contracts.identifiers import check_kk_number, nik_matches, parse_nik
from dtks_contracts.regions import children, contains, population
from dtks_synthetic import (
    generate_population,
    member_rows,
    register_households,
    villages_of,
)
from dtks_synthetic.households import age_on, family_household
from dtks_synthetic.rows import MEMBER_ROW_COLUMNS


@pytest.fixture(scope="module")
def pop():
    return generate_population("17.71", people=3000, seed=7)


def _digest(records) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r, sort_keys=True).encode())
    return h.hexdigest()


def test_same_seed_gives_identical_output_and_another_seed_does_not():
    def everything(seed: int) -> str:
        p = generate_population("17.71", people=600, seed=seed)
        return _digest(
            [r.to_json() for r in p.civil_registry_records()]
            + [h.model_dump(mode="json") for h in register_households(p)]
        )

    assert everything(3) == everything(3)
    assert everything(3) != everything(4)


def test_population_has_exactly_the_requested_size(pop):
    assert sum(1 for _ in pop.civil_registry_records()) == 3000
    assert sum(len(f.members) for f in pop.families()) == 3000


def test_default_size_is_the_regency_real_population():
    assert generate_population("17.71").people == population("17.71").total


def test_families_live_in_every_real_village_of_the_regency(pop):
    villages = villages_of("17.71")
    assert len(villages) == sum(len(children(d)) for d in children("17.71")) == 67
    used = {f.village_code for f in pop.families()}
    assert used == set(villages)


def test_every_nik_is_valid_unique_and_matches_birth_date_sex_and_district(pop):
    seen = set()
    for family, person in pop.persons():
        parts = parse_nik(person.nik)
        assert parts.district_code == family.district_code
        assert nik_matches(person.nik, person.birth_date, person.sex)
        assert person.nik not in seen
        seen.add(person.nik)
    assert len(seen) == 3000


def test_kk_numbers_are_valid_unique_and_carry_the_district_prefix(pop):
    kks = [f.kk_number for f in pop.families()]
    assert len(kks) == len(set(kks))
    for family in pop.families():
        check_kk_number(family.kk_number)
        assert family.kk_number[:6] == family.district_code.replace(".", "")


def test_families_have_exactly_one_head_and_plausible_ages(pop):
    sizes = []
    for family in pop.families():
        heads = [p for p in family.members if p.relation == "head"]
        assert len(heads) == 1 and family.members[0] is heads[0]
        head_age = age_on(heads[0].birth_date, pop.as_of)
        assert 18 <= head_age <= 95
        for p in family.members:
            age = age_on(p.birth_date, pop.as_of)
            assert 0 <= age <= 100
            if p.relation == "child":
                assert age <= head_age - 12 or any(m.relation == "spouse" for m in family.members)
        sizes.append(len(family.members))
    mean = sum(sizes) / len(sizes)
    assert 3.0 < mean < 4.5


def test_a_small_share_died_or_moved_with_dates_before_as_of(pop):
    records = list(pop.civil_registry_records())
    dead = [r for r in records if not r.alive]
    moved = [r for r in records if r.moved_to]
    assert 0 < len(dead) < 0.05 * len(records)
    assert 0 < len(moved) < 0.06 * len(records)
    for r in dead:
        assert r.died_on is not None and r.birth_date < r.died_on < pop.as_of
    for r in moved:
        assert r.moved_on is not None and r.moved_on < pop.as_of and r.moved_to != r.village_code


def test_register_is_the_poorest_share_with_ids_programs_and_deciles(pop):
    families = list(pop.families())
    registered = list(register_households(pop))
    assert abs(len(registered) - 0.4 * len(families)) < 0.1 * len(families)
    assert len({h.household_id for h in registered}) == len(registered)
    for h in registered:
        assert h.household_id and h.welfare_decile is not None and h.welfare_decile.decile <= 4
        assert h.programs and len(h.heads()) == 1
        assert contains("17.71", h.village_code)
    assert len(list(register_households(pop, share=0.1))) < len(registered)


def test_households_are_valid_contract_models_with_plausible_circumstances(pop):
    for family in list(pop.families())[:200]:
        household = family_household(family, registered=False)
        Household.model_validate(household.model_dump(mode="json"))
        assert household.household_id is None and household.programs == ()
        assert household.housing is not None and household.income_band is not None
        assert household.address.rt and household.address.rw


def test_member_rows_repeat_household_fields_on_every_member(pop):
    households = list(register_households(pop))[:50]
    rows = list(member_rows(households))
    assert len(rows) == sum(len(h.members) for h in households)
    assert all(tuple(r) == MEMBER_ROW_COLUMNS for r in rows)
    per_kk = Counter(r["kk_number"] for r in rows)
    assert per_kk == Counter({h.kk_number: len(h.members) for h in households})
    first = rows[0]
    assert first["relation_to_head"] == "head" and first["village_code"] == households[0].village_code
    assert first["household_id"] == households[0].household_id


def test_twenty_thousand_people_stream_quickly():
    import time

    started = time.perf_counter()
    count = sum(1 for _ in generate_population("17.71", people=20_000, seed=2).civil_registry_records())
    assert count == 20_000
    assert time.perf_counter() - started < 10  # 1M takes well under a minute; see the README


def test_unknown_regions_and_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        generate_population("99.99")
    with pytest.raises(ValueError):
        generate_population("17.71", people=-1)
