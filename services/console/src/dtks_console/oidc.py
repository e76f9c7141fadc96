"""The console as an OpenID Connect client of the realm: authorization code with PKCE, refresh,
and the end of the provider's session at sign-out. Server to server, except the two redirects."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt


class SignInFailed(Exception):
    """The provider refused a code or a refresh token: the person must sign in again."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: float  # monotonic-free wall clock (time.time()) when the access token ends

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Tokens:
        # Ten seconds early: a token about to end is not sent on a request that takes a while.
        return cls(
            answer["access_token"],
            answer.get("refresh_token"),
            answer.get("id_token"),
            time.time() + float(answer.get("expires_in", 300)) - 10,
        )

    def claims(self) -> dict[str, Any]:
        """What the access token says about the person. Not verified here: the services verify it on
        every call; the console reads it only to choose pages and to greet the person."""
        return token_claims(self.access_token)


@functools.lru_cache(maxsize=4096)
def _decoded(token: str) -> Mapping[str, Any]:
    return MappingProxyType(jwt.decode(token, options={"verify_signature": False}))


def token_claims(token: str) -> dict[str, Any]:
    """An access token's claims, unverified (see Tokens.claims). Decoded once per token, whose claims
    never change: a queue page read them twice, a tenth of the console's work for it."""
    return dict(_decoded(token))


class OidcClient:
    def __init__(self, issuer: str, client_id: str, http: httpx.AsyncClient) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.http = http
        self._discovery: dict[str, Any] | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            answer = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            self._discovery = dict(answer.json())
        return self._discovery

    async def authorization_url(self, *, redirect_uri: str, state: str, challenge: str, language: str) -> str:
        endpoint = (await self.discovery())["authorization_endpoint"]
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
        return f"{endpoint}?{urlencode(query)}"

    async def _token(self, data: dict[str, str]) -> Tokens:
        endpoint = (await self.discovery())["token_endpoint"]
        answer = await self.http.post(endpoint, data={**data, "client_id": self.client_id})
        if answer.status_code in (400, 401):
            raise SignInFailed(answer.json().get("error_description") or answer.text[:200])
        answer.raise_for_status()
        return Tokens.from_answer(answer.json())

    async def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> Tokens:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def end_session_url(self, *, id_token: str | None, after: str) -> str:
        endpoint = (await self.discovery())["end_session_endpoint"]
        query = {"client_id": self.client_id, "post_logout_redirect_uri": after}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"
