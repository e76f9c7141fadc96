"""A private Keycloak for the tests that need a real identity provider, and the HTTP a person's
browser or a partner agency's system does against it (sign-in with PKCE, client credentials), plus
the administrator's calls the tests make (rotate the signing key, disable a user)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dtks_runtime.auth.sign_in import CONSOLE_CLIENT, CONSOLE_REDIRECT, sign_in_with_pkce
from dtks_runtime.testing import read_env_file

REALM = "dtks"


@dataclass(frozen=True)
class Keycloak:
    url: str
    admin_user: str
    admin_password: str
    start_seconds: float

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"


@contextmanager
def private_keycloak(stack_script: Path, database_url: str) -> Iterator[Keycloak]:
    """Keycloak on a free port with its own state folder and its own database on ``database_url``'s
    server (``stack.py start --components keycloak``); stopped and its database dropped on exit."""
    import time

    state = Path(tempfile.mkdtemp(prefix="dtks-kc-"))
    os.chmod(state, 0o755)
    (state / "env").write_text(f"export DTKS_DATABASE_URL={database_url}\n")
    database = f"keycloak_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if k != "DTKS_KEYCLOAK_PORT"}
    env["DTKS_KEYCLOAK_DATABASE"] = database
    env["DTKS_KEYCLOAK_SNAPSHOT"] = "1"  # a schema and realm imported once, restored by later runs
    command = [sys.executable, str(stack_script)]
    started = time.monotonic()
    subprocess.run(
        [*command, "start", "--state-dir", str(state), "--components", "keycloak"],
        check=True,
        env=env,
        timeout=600,
    )
    try:
        values = read_env_file(state / "env")
        yield Keycloak(
            values["DTKS_KEYCLOAK_URL"],
            values["DTKS_KEYCLOAK_ADMIN_USER"],
            values["DTKS_KEYCLOAK_ADMIN_PASSWORD"],
            time.monotonic() - started,
        )
    finally:
        subprocess.run([*command, "stop", "--state-dir", str(state)], check=False, timeout=120)
        _drop_database(database_url, database)
        shutil.rmtree(state, ignore_errors=True)


def _drop_database(server_url: str, name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


async def sign_in(
    keycloak: Keycloak,
    username: str,
    password: str,
    *,
    redirect_uri: str = CONSOLE_REDIRECT,
    client_id: str = CONSOLE_CLIENT,
) -> dict[str, Any]:
    """What the console does for a person: the authorization-code flow with PKCE (S256), its login
    form filled in as a browser would (dtks_runtime.auth.sign_in). Answers the token response."""
    return await sign_in_with_pkce(
        keycloak.issuer, username, password, client_id=client_id, redirect_uri=redirect_uri
    )


async def refresh(
    keycloak: Keycloak, refresh_token: str, *, client_id: str = CONSOLE_CLIENT
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            keycloak.token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
        )


async def client_credentials(keycloak: Keycloak, client_id: str, secret: str) -> str:
    """What a partner agency's system does: its own access token for its own client."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            keycloak.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])


class KeycloakAdmin:
    """The realm administrator's REST calls the tests need."""

    def __init__(self, keycloak: Keycloak) -> None:
        self.keycloak = keycloak
        self.base = f"{keycloak.url}/admin/realms/{REALM}"

    async def _headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        answer = await http.post(
            f"{self.keycloak.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.keycloak.admin_user,
                "password": self.keycloak.admin_password,
            },
        )
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def add_user(self, username: str, password: str, role: str, region: str) -> str:
        """A new enabled user with one role and region; answers its id."""
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await self._headers(http)
            created = await http.post(
                f"{self.base}/users",
                headers=headers,
                json={
                    "username": username,
                    "enabled": True,
                    "email": f"{username}@dtks.example",
                    "emailVerified": True,
                    "firstName": "Test",
                    "lastName": "Officer",
                    "attributes": {"region": [region]},
                    "credentials": [{"type": "password", "value": password, "temporary": False}],
                },
            )
            created.raise_for_status()
            user_id = created.headers["location"].rsplit("/", 1)[-1]
            role_rep = (await http.get(f"{self.base}/roles/{role}", headers=headers)).json()
            mapped = await http.post(
                f"{self.base}/users/{user_id}/role-mappings/realm", headers=headers, json=[role_rep]
            )
            mapped.raise_for_status()
            return user_id

    async def allow_console_at(self, base_url: str) -> None:
        """Let the console client redirect to a console on another address than the realm file's
        (a test's console on a free port): sign-in and sign-out come back to ``base_url``."""
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await self._headers(http)
            found = await http.get(
                f"{self.base}/clients", headers=headers, params={"clientId": CONSOLE_CLIENT}
            )
            found.raise_for_status()
            client = found.json()[0]
            client["redirectUris"] = [*client.get("redirectUris", []), f"{base_url}/*"]
            answer = await http.put(f"{self.base}/clients/{client['id']}", headers=headers, json=client)
            answer.raise_for_status()

    async def disable_user(self, user_id: str) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.put(
                f"{self.base}/users/{user_id}", headers=await self._headers(http), json={"enabled": False}
            )
            answer.raise_for_status()

    async def console_client_copy(self, *, access_token_lifespan: int) -> str:
        """A new public client like dtks-console (same flow, mappers and redirect URIs) whose access
        tokens live ``access_token_lifespan`` seconds: lets a test see a token expire without
        changing the realm every other test shares. Answers its client id."""
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await self._headers(http)
            found = await http.get(
                f"{self.base}/clients", params={"clientId": CONSOLE_CLIENT}, headers=headers
            )
            found.raise_for_status()
            client = dict(found.json()[0])
            client_id = f"{CONSOLE_CLIENT}-{uuid.uuid4().hex[:6]}"
            client.pop("id", None)
            client["clientId"] = client_id
            client["protocolMappers"] = [
                {k: v for k, v in m.items() if k != "id"} for m in client.get("protocolMappers", [])
            ]
            client["attributes"] = {
                **client.get("attributes", {}),
                "access.token.lifespan": str(access_token_lifespan),
            }
            created = await http.post(f"{self.base}/clients", headers=headers, json=client)
            created.raise_for_status()
            return client_id

    async def rotate_signing_key(self) -> None:
        """A new RS256 key with a higher priority than every other: it signs every token from now on;
        the old keys stay published (passive) so tokens already issued still verify."""
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await self._headers(http)
            realm_id = (await http.get(self.base, headers=headers)).json()["id"]
            answer = await http.post(
                f"{self.base}/components",
                headers=headers,
                json={
                    "name": f"rotated-{uuid.uuid4().hex[:6]}",
                    "providerId": "rsa-generated",
                    "providerType": "org.keycloak.keys.KeyProvider",
                    "parentId": realm_id,
                    "config": {
                        "priority": [str(1000 + secrets.randbelow(1000))],
                        "enabled": ["true"],
                        "active": ["true"],
                        "algorithm": ["RS256"],
                        "keySize": ["2048"],
                    },
                },
            )
            answer.raise_for_status()
