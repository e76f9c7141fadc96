"""The realm file Keycloak imports (deploy/keycloak/dtks-realm.json) says what the services expect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.principal import check_scope

ROOT = Path(__file__).resolve().parents[1]
REALM: dict[str, Any] = json.loads((ROOT / "deploy" / "keycloak" / "dtks-realm.json").read_text())


def test_the_realm_roles_are_the_roles_of_the_contracts() -> None:
    assert {role["name"] for role in REALM["roles"]["realm"]} == {r.value for r in Role}


def test_every_user_holds_one_role_and_a_region_that_fits_it() -> None:
    for user in REALM["users"]:
        (role,) = user["realmRoles"]
        (region,) = user["attributes"]["region"]
        check_scope(Role(role), region)  # raises for a role scoped to the wrong level
        for program in user["attributes"].get("programs", []):
            Program(program)


def test_every_client_puts_role_region_programs_and_the_audience_into_its_access_tokens() -> None:
    for client in REALM["clients"]:
        claims = {
            mapper["config"].get("claim.name") or mapper["config"].get("included.custom.audience")
            for mapper in client["protocolMappers"]
            if mapper["config"].get("access.token.claim") == "true"
        }
        # The console's people include institution operators, scoped to one institution by a claim.
        institution = {"institution"} if client["clientId"] == "dtks-console" else set()
        assert claims == {"role", "region", "programs", "dtks"} | institution, client["clientId"]


def test_the_console_is_public_with_pkce_and_agencies_use_client_credentials_only() -> None:
    clients = {c["clientId"]: c for c in REALM["clients"]}
    console = clients.pop("dtks-console")
    assert console["publicClient"] and console["standardFlowEnabled"]
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not console["directAccessGrantsEnabled"] and not console["implicitFlowEnabled"]
    service_accounts = {
        u["serviceAccountClientId"]: u for u in REALM["users"] if "serviceAccountClientId" in u
    }
    assert clients and set(clients) == set(service_accounts)
    for client_id, client in clients.items():
        assert client["serviceAccountsEnabled"] and not client["publicClient"]
        assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
        assert service_accounts[client_id]["realmRoles"] == ["agency"]


def test_access_tokens_live_five_minutes() -> None:
    assert REALM["accessTokenLifespan"] == 300
