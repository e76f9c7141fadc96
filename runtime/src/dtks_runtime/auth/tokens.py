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
    def __init__(self, secret: str, issuer: str = "dtks") -> None:
        self._secret = secret
        self._issuer = issuer

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
        return Principal(
            subject=str(claims["sub"]), role=role, region=region, programs=tuple(claims.get("programs", ()))
        )
