from importlib.resources import files
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from dtks_contracts import regions
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.regions import (
    DistrictCode,
    ProvinceCode,
    RegencyCode,
    RegionCode,
    VillageCode,
    check_region_code,
    children,
    contains,
    district_from_nik_prefix,
    parent,
    population,
    regency_populations,
    region_exists,
    region_level,
    region_name,
)


class Scoped(BaseModel):
    region: RegionCode


class Places(BaseModel):
    province: ProvinceCode | None = None
    regency: RegencyCode | None = None
    district: DistrictCode | None = None
    village: VillageCode | None = None


def test_data_files_ship_inside_the_package():
    data = files("dtks_contracts") / "data"
    for name in ("regions.csv", "region_population.csv", "README.md"):
        assert (data / name).is_file(), name
    assert "Copyright (c) 2017-2025 Cahya DSN" in (data / "README.md").read_text(encoding="utf-8")


def test_nothing_in_the_package_reads_the_shared_reference_folder():
    package = Path(regions.__file__).parent
    for source in package.rglob("*.py"):
        assert "shared/reference" not in source.read_text(encoding="utf-8"), source


def test_counts_of_each_level_match_the_reference_list():
    provinces = children("ID")
    assert len(provinces) == 38
    regencies = [r for p in provinces for r in children(p)]
    assert len(regencies) == 514
    districts = [d for r in regencies for d in children(r)]
    assert len(districts) == 7285


def test_levels_names_and_parents():
    assert region_level("ID") == "national"
    assert region_level("17") == "province"
    assert region_level("17.71") == "regency"
    assert region_level("17.71.01") == "district"
    assert region_level("17.71.01.1001") == "village"
    assert region_name("17.71") == "Kota Bengkulu"
    assert region_name("14.06") == "Kabupaten Rokan Hulu"
    assert region_name("ID") == "Indonesia"
    assert region_name("31.71") == "Kota Administrasi Jakarta Pusat"
    assert parent("17.71.01.1001") == "17.71.01"
    assert parent("17.71") == "17"
    assert parent("17") == "ID"
    assert parent("ID") is None


def test_names_are_stripped_of_the_sources_trailing_spaces():
    assert region_name("31.75") == "Kota Administrasi Jakarta Timur"
    assert all(region_name(code) == region_name(code).strip() for code in children("31"))


@pytest.mark.parametrize(
    "bad", ["1", "17.7", "17.71.1", "17.71.01.101", "17-71", "ID.17", "id", " 17", "17.71."]
)
def test_malformed_codes_are_rejected(bad):
    with pytest.raises(ValueError, match="malformed"):
        region_level(bad)


def test_unknown_codes_exist_nowhere():
    assert region_exists("17.71.01.1001")
    assert not region_exists("17.71.99")
    with pytest.raises(ValueError, match="names no region"):
        region_name("17.71.99")
    with pytest.raises(ValueError, match="names no region"):
        children("99")


def test_containment():
    assert contains("ID", "17.71.01.1001")
    assert contains("ID", "ID")
    assert contains("17", "17.71.01.1001")
    assert contains("17.71", "17.71.01")
    assert contains("17.71.01", "17.71.01")
    assert not contains("17.71.01", "17.71")  # a district does not contain its regency
    assert not contains("17", "18.71")
    assert contains("11", "11")  # equal codes contain each other
    assert not contains("17.71", "17.72.01")
    assert not contains("17", "ID")
    assert not contains("17.71.01", "17.71.02.1001")
    with pytest.raises(ValueError):
        contains("17.7", "17.71")


def test_children_of_kota_bengkulu():
    assert children("17.71")[0] == "17.71.01"
    assert all(parent(code) == "17.71" for code in children("17.71"))
    villages = [v for d in children("17.71") for v in children(d)]
    assert len(villages) == 67  # "67 urban villages" (domain.md)
    assert children("17.71.01.1001") == ()


def test_district_from_nik_prefix():
    assert district_from_nik_prefix("177101") == "17.71.01"
    with pytest.raises(ValueError, match="names no district"):
        district_from_nik_prefix("177199")
    with pytest.raises(ValueError, match="six digits"):
        district_from_nik_prefix("17710")


def test_population():
    assert population("17.71").total == 400_533
    assert population("ID").total == 284_973_643
    assert population("17").name == "Bengkulu"
    pops = regency_populations()
    assert len(pops) == 514
    assert sum(p.total for p in pops.values()) == population("ID").total
    with pytest.raises(ValueError, match="province and regency"):
        population("17.71.01")


def test_region_code_type_checks_format_and_existence():
    assert Scoped(region="ID").region == "ID"
    assert Scoped(region="17.71.01.1001").region == "17.71.01.1001"
    with pytest.raises(ValidationError, match="names no district"):
        Scoped(region="17.71.99")
    with pytest.raises(ValidationError, match="malformed"):
        Scoped(region="17.71.1")


def test_level_specific_code_types():
    Places(province="17", regency="17.71", district="17.71.01", village="17.71.01.1001")
    with pytest.raises(ValidationError, match="is a district code; expected a village code"):
        Places(village="17.71.01")
    with pytest.raises(ValidationError, match="expected a regency code"):
        Places(regency="ID")
    with pytest.raises(ValidationError, match="names no village"):
        Places(village="17.71.01.9999")


def test_the_listed_level_look_up_agrees_with_the_format_for_every_listed_code():
    # Validators accept listed codes by one look-up (regions.listed_region_level); it must give
    # the level the format gives, for every code in the list.
    for code in regions._names():
        assert regions.listed_region_level(code) == region_level(code), code
    assert regions.listed_region_level("ID") == "national"
    assert regions.listed_region_level("17.71.99") is None
    assert regions.listed_region_level("17.71.1") is None
    assert "177101" in regions.district_nik_prefixes()
    assert len(regions.district_nik_prefixes()) == sum(1 for c in regions._names() if len(c) == 8)


def test_listed_codes_of_the_wrong_level_are_still_rejected_with_the_level_message():
    for field, code in (
        ("village", "17.71.01"),
        ("district", "17.71.01.1001"),
        ("regency", "17"),
        ("province", "ID"),
    ):
        with pytest.raises(ValidationError, match="expected a"):
            Places(**{field: code})
        with pytest.raises(ValidationError, match="expected a"):
            Places.model_validate({field: code}, context=dict(HISTORICAL_READ))
    with pytest.raises(ValueError, match="is a district code; expected a village code"):
        check_region_code("17.71.01", levels=("village",))
    assert check_region_code("17.71.01", levels=("district",)) == "17.71.01"


def test_unlisted_codes_are_read_from_history_with_their_format_checked():
    assert (
        Places.model_validate({"village": "91.01.01.2001"}, context=dict(HISTORICAL_READ)).village
        == "91.01.01.2001"
    )
    with pytest.raises(ValidationError, match="names no village"):
        Places(village="91.01.01.2001")
    with pytest.raises(ValidationError, match="malformed"):
        Places.model_validate({"village": "91.01.01.201"}, context=dict(HISTORICAL_READ))
    with pytest.raises(ValueError, match="malformed"):
        check_region_code(["17"])  # type: ignore[arg-type]
