"""People and partner agencies sign in through a real Keycloak (the realm of deploy/keycloak) and
the proposal service accepts the provider's tokens, and only those it can verify."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from dtks_proposal.testing import OTHER_VILLAGE, count, database_of, sample_bodies
from dtks_runtime.auth.sign_in import SignInError
from dtks_runtime.auth.tokens import CLOCK_LEEWAY_SECONDS
from dtks_runtime.identity_testing import Keycloak, KeycloakAdmin, client_credentials, refresh, sign_in

# A first Keycloak start in a test run takes one to two minutes on a loaded machine.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

ServiceFactory = Any
OPERATOR = ("operator.1001", "dev-operator-1001")  # village operator of 17.71.01.1001 in the realm file


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def proposal_body() -> dict[str, Any]:
    return {**sample_bodies(1, village=OTHER_VILLAGE)[0], "proposal_id": str(uuid.uuid4())}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_village_operator_signed_in_with_pkce_submits_a_proposal(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    tokens = await sign_in(keycloak, *OPERATOR)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    # The realm's access-token lifetime: five minutes. Keycloak reads its clock in whole seconds for
    # each claim, so the two can straddle a second (301 was seen in CI).
    assert abs(claims["exp"] - claims["iat"] - 300) <= 1
    async with service(oidc_issuer=keycloak.issuer) as (app, client):
        accepted = await client.post(
            "/proposals", json=proposal_body(), headers=bearer(tokens["access_token"])
        )
        assert accepted.status_code == 201, accepted.text
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 1
        health = (await client.get("/healthz")).json()
        assert health["checks"]["identity_provider"]["ok"] is True


async def test_the_officer_who_submitted_is_recorded_by_subject_and_name_in_the_event_and_timeline(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    tokens = await sign_in(keycloak, *OPERATOR)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    body = proposal_body()
    async with service(oidc_issuer=keycloak.issuer) as (app, client):
        accepted = await client.post("/proposals", json=body, headers=bearer(tokens["access_token"]))
        assert accepted.status_code == 201, accepted.text
        connection = await asyncpg.connect(database_of(app))
        try:
            stored = await connection.fetchval(
                "SELECT envelope::text FROM events WHERE event_type = 'proposal.submitted'"
            )
        finally:
            await connection.close()
        timeline = (
            await client.get(f"/proposals/{body['proposal_id']}", headers=bearer(tokens["access_token"]))
        ).json()["timeline"]
    # Keycloak's user id (a UUID, stable across renames) and the name the realm gives operator.1001.
    officer = {
        "subject": claims["sub"],
        "role": "village_operator",
        "region": "17.71.01.1001",
        "name": "Sari Wulandari",
    }
    event = json.loads(stored)
    assert event["actor"] == officer
    assert event["payload"]["submitted_by"] == officer
    assert timeline[0]["event"] == "proposal.submitted" and timeline[0]["actor"] == officer


async def test_an_agencys_client_credentials_token_is_verified_with_its_grant_and_cannot_submit(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    token = await client_credentials(keycloak, "agency-dinsos-bengkulu", "dev-secret-dinsos-bengkulu")
    async with service(oidc_issuer=keycloak.issuer) as (app, client):
        principal = await app.state.tokens.authenticate(token)
        assert (principal.role.value, principal.region, principal.programs) == ("agency", "17.71", ("BLT",))
        assert principal.name == "service-account-agency-dinsos-bengkulu"  # a system's name in its events
        refused = await client.post("/proposals", json=proposal_body(), headers=bearer(token))
        assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0


async def test_tokens_the_service_cannot_trust_are_401_and_nothing_is_written(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    real = (await sign_in(keycloak, *OPERATOR))["access_token"]
    header, payload, signature = real.split(".")
    claims = jwt.decode(real, options={"verify_signature": False})
    async with httpx.AsyncClient() as http:  # the administrator's token: the master realm, another issuer
        master = await http.post(
            f"{keycloak.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": keycloak.admin_user,
                "password": keycloak.admin_password,
            },
        )
    bad = {
        "another issuer": master.json()["access_token"],
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "tampered region": f"{header}.{_b64({**claims, 'region': '17.71.01.1002'})}.{signature}",
        "unknown kid": f"{_b64({**jwt.get_unverified_header(real), 'kid': 'not-a-key-of-the-realm'})}.{payload}.{signature}",
        "garbage": "not.a.token",
    }
    async with service(oidc_issuer=keycloak.issuer) as (app, client):
        for case, token in bad.items():
            refused = await client.post("/proposals", json=proposal_body(), headers=bearer(token))
            assert refused.status_code == 401, case
            assert refused.headers["content-type"] == "application/problem+json", case
            assert refused.json()["code"] == "invalid_token", case
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 0


async def test_a_rotated_signing_key_is_accepted_without_restarting_the_service(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    async with service(oidc_issuer=keycloak.issuer) as (app, client):
        before = (await sign_in(keycloak, *OPERATOR))["access_token"]
        fetched = time.monotonic()
        first = await client.post("/proposals", json=proposal_body(), headers=bearer(before))
        assert first.status_code == 201, first.text
        await KeycloakAdmin(keycloak).rotate_signing_key()
        after = (await sign_in(keycloak, *OPERATOR))["access_token"]
        assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
        # The service refetches keys at most every 10 s (a made-up kid must not hammer the provider).
        await asyncio.sleep(max(0.0, 10.5 - (time.monotonic() - fetched)))
        second = await client.post("/proposals", json=proposal_body(), headers=bearer(after))
        assert second.status_code == 201, second.text
        again = await client.post("/proposals", json=proposal_body(), headers=bearer(before))
        assert again.status_code == 201, "a token signed before the rotation is still valid until it expires"
        assert await count(database_of(app), "SELECT count(*) FROM proposals") == 3


async def test_a_disabled_user_can_no_longer_refresh_their_session(keycloak: Keycloak) -> None:
    admin = KeycloakAdmin(keycloak)
    username = f"operator.{uuid.uuid4().hex[:6]}"
    user_id = await admin.add_user(username, "a-password-of-the-test", "village_operator", "17.71.01.1002")
    tokens = await sign_in(keycloak, username, "a-password-of-the-test")
    renewed = await refresh(keycloak, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    await admin.disable_user(user_id)
    refused = await refresh(keycloak, renewed.json()["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_a_disabled_user_is_refused_by_the_service_once_their_access_token_expires(
    service: ServiceFactory, keycloak: Keycloak
) -> None:
    """The real guarantee: a service verifies tokens itself (never asking the provider per request)
    and keeps a verified token until it expires, so a disabled user keeps access for at most one
    access-token lifetime plus the clock leeway (5 min + 30 s with the realm's settings); their
    refresh and any new sign-in are refused at once. Here the lifetime is 10 s (a client of its own)."""
    admin = KeycloakAdmin(keycloak)
    username, password = f"operator.{uuid.uuid4().hex[:6]}", "a-password-of-the-test"
    user_id = await admin.add_user(username, password, "village_operator", OTHER_VILLAGE)
    short_lived = await admin.console_client_copy(access_token_lifespan=10)
    tokens = await sign_in(keycloak, username, password, client_id=short_lived)
    access = tokens["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert abs(claims["exp"] - claims["iat"] - 10) <= 1  # whole seconds, read apart (see above)
    async with service(oidc_issuer=keycloak.issuer) as (_app, client):
        before = await client.post("/proposals", json=proposal_body(), headers=bearer(access))
        assert before.status_code == 201, before.text
        await admin.disable_user(user_id)
        refused = await refresh(keycloak, tokens["refresh_token"], client_id=short_lived)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        with pytest.raises(SignInError):
            await sign_in(keycloak, username, password, client_id=short_lived)
        # Until it expires, the access token in hand still works: the service does not ask Keycloak.
        if time.time() < claims["exp"]:
            still = await client.post("/proposals", json=proposal_body(), headers=bearer(access))
            assert still.status_code == 201, still.text
        await asyncio.sleep(max(0.0, claims["exp"] + CLOCK_LEEWAY_SECONDS + 1 - time.time()))
        after = await client.post("/proposals", json=proposal_body(), headers=bearer(access))
        assert after.status_code == 401 and after.json()["code"] == "invalid_token", after.text
        assert "expired" in after.json()["detail"]
