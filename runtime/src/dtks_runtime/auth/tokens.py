"""Issuing and verifying HS256 bearer tokens. The secret comes from DTKS_JWT_SECRET."""

from __future__ import annotations

import time
from typing import Any

import jwt

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.principal import Principal, check_scope


class TokenError(Exception):
    """The token is missing, malformed, expired, or names a role or region that does not exist."""


class TokenService:
    # Verified tokens kept, so a client that sends the same token with every request (they all do)
    # costs one signature check and one scope check per token, not per request.
    CACHE_SIZE = 10_000

    def __init__(self, secret: str, issuer: str = "dtks") -> None:
        self._secret = secret
        self._issuer = issuer
        self._verified: dict[str, tuple[Principal, float, float]] = {}  # token -> principal, nbf, exp

    def issue(
        self,
        *,
        subject: str,
        role: Role,
        region: str,
        ttl_seconds: int = 8 * 3600,
        programs: tuple[str, ...] = (),
    ) -> str:
        check_scope(role, region)
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "role": role.value,
            "region": region,
            "iss": self._issuer,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if programs:
            claims["programs"] = list(programs)
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, not_before, expires = cached
            now = time.time()
            # The same bytes passed every check before; only time can make them invalid since.
            if not_before <= now < expires:
                return principal
            del self._verified[token]
        principal, not_before, expires = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (principal, not_before, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._issuer,
                options={"require": ["sub", "role", "region", "exp", "iss"]},
            )
            role = Role(claims["role"])
            region = str(claims["region"])
            check_scope(role, region)
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise TokenError(str(exc)) from exc
        principal = Principal(
            subject=str(claims["sub"]), role=role, region=region, programs=tuple(claims.get("programs", ()))
        )
        return principal, float(claims.get("nbf", 0)), float(claims["exp"])
