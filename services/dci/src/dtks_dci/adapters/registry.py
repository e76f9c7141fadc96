"""The registry read through its public HTTP API, as this service (a national reader).

The adapter enforces each agency's grant itself (see ``dtks_dci.grants``): it reads as a national
reader so that an asynchronous search or a decree's notification, answered after the agency's own
token has expired, reads exactly what a synchronous one would.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

from dtks_contracts.vocabulary.roles import Role
from dtks_dci.domain.envelope import DciError
from dtks_dci.domain.queries import RegisterQuery
from dtks_dci.settings import DciSettings
from dtks_runtime.auth.tokens import TokenService

PAGE = 1000  # the registry's largest page of households
LOOKUP_MAX = 1000  # ids the registry's POST /households/lookup takes in one call


class TooMany(Exception):
    """More households match than the service answers in one search."""


class TokenSource:
    """A bearer token for the registry: client credentials when configured, else a development token."""

    def __init__(self, settings: DciSettings, http: httpx.AsyncClient) -> None:
        self._settings, self._http = settings, http
        self._token: str | None = None
        self._until = 0.0

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._until:
            return self._token
        s = self._settings
        if s.dci_client_id and s.dci_client_secret and s.oidc_issuer:
            answer = await self._http.post(
                f"{s.oidc_issuer.rstrip('/')}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=(s.dci_client_id, s.dci_client_secret),
            )
            answer.raise_for_status()
            body = answer.json()
            self._token, ttl = body["access_token"], float(body.get("expires_in", 60))
        elif not s.production:
            ttl = 3600.0
            self._token = TokenService(s.jwt_secret, s.jwt_issuer).issue(
                subject="dtks-dci", role=Role.AUDITOR, region="ID", ttl_seconds=int(ttl), name="dtks-dci"
            )
        else:
            raise RuntimeError("DTKS_DCI_CLIENT_ID and _SECRET are needed in production")
        self._until = time.monotonic() + ttl * 0.8
        return self._token


class RegistryClient:
    """Reads over aiohttp: a search makes two registry calls, and httpx spent several ms of CPU on
    each (measured with benchmarks/dci_bench.py), more than the rest of a search together."""

    def __init__(self, base_url: str, tokens: TokenSource, session: aiohttp.ClientSession) -> None:
        self._base, self._tokens, self._session = base_url.rstrip("/"), tokens, session

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer, None for a 404."""
        return await self._call("GET", path, params=params)

    async def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        headers = {"authorization": f"Bearer {await self._tokens.token()}"}
        query = {k: str(v) for k, v in (params or {}).items()}
        url = self._base + quote(path)
        try:
            async with self._session.request(method, url, params=query, json=json, headers=headers) as answer:
                if answer.status == 404:
                    return None
                if answer.status >= 400:
                    raise DciError(
                        "err.service.unavailable", "The register cannot be read just now; try again shortly."
                    )
                return await answer.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DciError(
                "err.service.unavailable", "The register cannot be read just now; try again shortly."
            ) from exc

    async def households_by_id(
        self, household_ids: Sequence[str], region: str | None = None
    ) -> list[dict[str, Any]]:
        """The households among ``household_ids`` that the register holds within this service's scope
        (and ``region``, when given), in the order given: a call for each LOOKUP_MAX ids, not one a
        household."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(household_ids), LOOKUP_MAX):
            body = {"household_ids": list(household_ids[start : start + LOOKUP_MAX]), "region": region}
            answer = await self._call("POST", "/households/lookup", json=body)
            found += answer["households"] if answer else []
        return found

    async def households(self, query: RegisterQuery, region: str, cap: int) -> list[dict[str, Any]]:
        """Every household matching ``query`` in ``region`` (at most ``cap``, else :class:`TooMany`)."""
        if query.nik is not None:
            # One call: the person's memberships with their household documents, rather than one more
            # call per membership (a search by NIK is the standard's commonest, and each call costs
            # the registry and this service a few ms of CPU).
            answer = await self._get(f"/people/{query.nik}", {"include": "household"})
            if answer is None:
                return []
            found = [dict(m["household"]) for m in answer["memberships"]]
            return [h for h in found if query.kk is None or h["kk_number"] == query.kk]
        params: dict[str, Any] = {"region": region, "status": query.status, "limit": PAGE}
        if query.kk is not None:
            params["kk"] = query.kk
        for name in ("decile_min", "decile_max", "program"):
            if getattr(query, name) is not None:
                params[name] = getattr(query, name)
        found = []
        while True:
            page = await self._get("/households", params)
            if page is None:
                return found
            found.extend(page["households"])
            if len(found) > cap:
                raise TooMany
            if not page.get("next_after"):
                return found
            params["after"] = page["next_after"]
