"""The demo's named users of every tier of Kota Bengkulu, created in a real Keycloak, and
``dtks-token --user`` signing one of them in there for a real token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.cli import main as token_cli
from dtks_runtime.auth.dev_users import ProviderAdmin, dev_password, one_per_tier, tier_users
from dtks_runtime.auth.oidc import ProviderKeys
from dtks_runtime.auth.principal import check_scope
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.identity_testing import Keycloak, sign_in

KOTA_BENGKULU = "17.71"


def test_every_tier_of_kota_bengkulu_has_an_officer_with_a_role_that_fits_their_region() -> None:
    users = tier_users(KOTA_BENGKULU)
    by_role: dict[Role, list[str]] = {}
    for user in users:
        check_scope(user.role, user.region)  # raises for a role scoped to the wrong level
        by_role.setdefault(user.role, []).append(user.region)
    assert len({u.username for u in users}) == len(users) == 67 + 9 + 6
    assert len(set(by_role[Role.VILLAGE_OPERATOR])) == 67
    assert len(set(by_role[Role.DISTRICT_VERIFIER])) == 9
    assert by_role[Role.REGENCY_OPERATOR] == by_role[Role.REGENT] == [KOTA_BENGKULU]
    assert by_role[Role.PROVINCE_VERIFIER] == ["17"]
    assert (
        by_role[Role.MINISTRY_VERIFIER]
        == by_role[Role.MINISTRY_DETERMINER]
        == by_role[Role.AUDITOR]
        == ["ID"]
    )
    assert {u.username: u.region for u in users}["operator.1771-01-1001"] == "17.71.01.1001"


def test_the_password_rule_gives_the_realm_files_users_their_passwords_too() -> None:
    # deploy/keycloak/dtks-realm.json's development users, as the README lists them.
    assert dev_password("operator.1001") == "dev-operator-1001"
    assert dev_password("verifier.1771-01") == "dev-verifier-177101"
    assert dev_password("operator.1771") == "dev-operator-1771"
    assert dev_password("ministry.verifier") == "dev-ministry-verifier"
    assert dev_password("operator.1771-01-1001") == "dev-operator-1771011001"


def test_the_realm_files_users_that_hold_an_office_keep_their_name_role_and_region() -> None:
    realm = json.loads((Path(__file__).resolve().parents[2] / "deploy/keycloak/dtks-realm.json").read_text())
    in_realm = {
        u["username"]: (f"{u['firstName']} {u['lastName']}", u["realmRoles"], u["attributes"]["region"])
        for u in realm["users"]
        if "firstName" in u
    }
    offices = {u.username: (u.name, [u.role.value], [u.region]) for u in tier_users(KOTA_BENGKULU)}
    shared = in_realm.keys() & offices.keys()
    assert shared == {"verifier.1771-01", "operator.1771", "ministry.verifier"}
    assert {name: offices[name] for name in shared} == {name: in_realm[name] for name in shared}


@pytest.mark.infra
@pytest.mark.timeout(900)
async def test_the_demos_users_are_created_once_sign_in_and_carry_their_role_region_and_name(
    keycloak: Keycloak, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = {u.username: u for u in tier_users(KOTA_BENGKULU)}
    # A village operator, a district verifier, the mayor and the province; and one the realm file has.
    names = ["operator.1771-02-1024", "verifier.1771-05", "regent.1771", "verifier.17", "ministry.verifier"]
    admin = ProviderAdmin(keycloak.url, keycloak.admin_user, keycloak.admin_password)
    first = await admin.ensure_users(everyone[n] for n in names)
    assert sorted(first.created) == sorted(names[:4])
    assert first.existing == ["ministry.verifier"]  # left alone: its password is the realm file's
    again = await admin.ensure_users(everyone[n] for n in names)
    assert again.created == [] and sorted(again.existing) == sorted(names)

    village = everyone["operator.1771-02-1024"]
    tokens = await sign_in(keycloak, village.username, dev_password(village.username))
    verified = TokenService(None, provider=ProviderKeys(keycloak.issuer, "dtks"))
    principal = await verified.authenticate(tokens["access_token"])
    assert (principal.role, principal.region, principal.name) == (
        Role.VILLAGE_OPERATOR,
        "17.71.02.1024",
        village.name,
    )

    # dtks-token --user: the same through the command, with the password rule applied for it (in a
    # thread: the command runs its own event loop).
    monkeypatch.setenv("DTKS_OIDC_ISSUER", keycloak.issuer)
    await asyncio.to_thread(token_cli, ["--user", "regent.1771"])
    regent = await verified.authenticate(capsys.readouterr().out.strip())
    assert (regent.role, regent.region, regent.name) == (
        Role.REGENT,
        KOTA_BENGKULU,
        everyone["regent.1771"].name,
    )
    await asyncio.to_thread(
        token_cli, ["--user", "operator.1001", "--password", "dev-operator-1001"]
    )  # a user of the realm file
    operator = await verified.authenticate(capsys.readouterr().out.strip())
    assert (operator.region, operator.name) == ("17.71.01.1001", "Sari Wulandari")
    with pytest.raises(SystemExit, match=r"did not sign verifier\.17 in"):
        await asyncio.to_thread(token_cli, ["--user", "verifier.17", "--password", "not-the-password"])


def test_make_run_names_one_officer_of_every_tier_in_the_order_a_quarter_passes_them() -> None:
    shown = one_per_tier("17.71", "17.71.02.1002")
    assert [u.role for u in shown] == [
        Role.VILLAGE_OPERATOR, Role.DISTRICT_VERIFIER, Role.REGENCY_OPERATOR, Role.REGENT,
        Role.PROVINCE_VERIFIER, Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER, Role.AUDITOR,
    ]  # fmt: skip
    assert [u.username for u in shown[:2]] == ["operator.1771-02-1002", "verifier.1771-02"]
    assert shown[3].username == "regent.1771" and shown[3].password == "dev-regent-1771"
    # Without a village named, the regency's first.
    assert one_per_tier("17.71")[0].region == min(
        u.region for u in tier_users("17.71") if u.role is Role.VILLAGE_OPERATOR
    )
