"""The identity provider's signing keys (its JWKS), fetched once and again only when needed.

Services verify the provider's tokens; they never mint them. The keys are fetched on the first
token, kept, and fetched again when a token names a key id (``kid``) not seen yet: that is how a
rotated key is picked up without a restart. A token with a made-up ``kid`` must not make every
request call the provider, so refetches are at most one per ``min_refresh_interval``. Fetches run in
a worker thread: the event loop never waits on the network. If the provider is down, the keys
already fetched keep verifying tokens until those expire.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.request import Request, urlopen

import jwt

# Asymmetric signatures only: a provider's public key must never double as an HMAC secret.
PROVIDER_ALGORITHMS = ("RS256", "ES256")


@dataclass
class ProviderKeys:
    issuer: str
    audience: str
    jwks_url: str | None = None  # None: the jwks_uri of the issuer's OpenID discovery document
    min_refresh_interval: float = 10.0
    timeout: float = 5.0
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict, repr=False)
    _last_attempt: float = field(default=float("-inf"), repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _fetched: int = field(default=0, repr=False)  # how many times the key set was fetched

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)

    async def refresh(self) -> bool:
        """Fetch the key set again unless that was tried moments ago; True if it was fetched.
        Concurrent callers share one fetch: one that waited while another fetched gets True too, as
        the keys are new to it (the first calls of a fresh service come at once; one of them must
        not be refused because the other fetched the keys its token names)."""
        seen = self._fetched
        async with self._lock:
            if self._fetched != seen:
                return True
            if time.monotonic() - self._last_attempt < self.min_refresh_interval:
                return False
            self._last_attempt = time.monotonic()
            self._keys = await asyncio.to_thread(self._fetch_keys)
            self._fetched += 1
            return True

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """For /healthz: can the provider's key set be reached right now?"""
        details: dict[str, Any] = {"issuer": self.issuer, "keys_cached": len(self._keys)}
        try:
            await asyncio.to_thread(self._jwks_document)
        except Exception as error:  # any failure to reach or read it is the finding
            return False, {**details, "error": f"identity provider unreachable: {error}"}
        return True, details

    def _fetch_keys(self) -> dict[str, jwt.PyJWK]:
        keys: dict[str, jwt.PyJWK] = {}
        for entry in self._jwks_document().get("keys", []):
            # Keycloak also publishes an encryption key; only signing keys with an id verify tokens.
            if entry.get("use", "sig") != "sig" or "kid" not in entry:
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWKError:
                continue  # a key type this service cannot use
        return keys

    def _jwks_document(self) -> dict[str, Any]:
        url = self.jwks_url
        if url is None:
            url = str(self._get_json(f"{self.issuer}/.well-known/openid-configuration")["jwks_uri"])
        return self._get_json(url)

    def _get_json(self, url: str) -> dict[str, Any]:
        with urlopen(Request(url, headers={"Accept": "application/json"}), timeout=self.timeout) as answer:
            document = json.load(answer)
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return document
