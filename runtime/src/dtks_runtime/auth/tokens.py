"""Verifying bearer tokens: the identity provider's (RS256/ES256, DTKS_OIDC_ISSUER) and, outside
production only, HS256 development tokens signed with DTKS_JWT_SECRET (``dtks-token``, the tests)."""

from __future__ import annotations

import time
from typing import Any

import jwt

from dtks_contracts.text import unsafe_character
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.oidc import PROVIDER_ALGORITHMS, ProviderKeys
from dtks_runtime.auth.principal import Principal, check_institution_scope, check_scope

# Clocks of the provider and the services differ a little; more would stretch a token's lifetime.
CLOCK_LEEWAY_SECONDS = 30


class TokenError(Exception):
    """The token is missing, malformed, expired, or names a role or region that does not exist."""


class UnknownSigningKey(TokenError):
    """Signed with a key id not in the provider's key set as last fetched (perhaps a rotated key)."""


class TokenService:
    # Verified tokens kept, so a client that sends the same token with every request (they all do)
    # costs one signature check and one scope check per token, not per request.
    CACHE_SIZE = 10_000

    def __init__(
        self, secret: str | None, issuer: str = "dtks", *, provider: ProviderKeys | None = None
    ) -> None:
        # secret None: no HS256 token is accepted (production); provider None: no provider's token is.
        self._secret = secret
        self._issuer = issuer
        self._provider = provider
        self._verified: dict[str, tuple[Principal, float, float]] = {}  # token -> principal, nbf, exp

    def issue(
        self,
        *,
        subject: str,
        role: Role,
        region: str,
        ttl_seconds: int = 8 * 3600,
        programs: tuple[str, ...] = (),
        name: str | None = None,
        institution_id: str | None = None,
    ) -> str:
        if self._secret is None:
            raise ValueError("this service accepts no shared-secret tokens, so it cannot issue one")
        check_scope(role, region)
        check_institution_scope(role, institution_id)
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
        if name:
            claims["name"] = name
        if institution_id:
            claims["institution"] = institution_id
        return jwt.encode(claims, self._secret, algorithm="HS256")

    async def authenticate(self, token: str) -> Principal:
        """``verify``, fetching the provider's keys first when the token names a key not seen yet."""
        try:
            return self.verify(token)
        except UnknownSigningKey:
            if self._provider is None:
                raise
            try:
                refreshed = await self._provider.refresh()
            except Exception as exc:  # unreachable, or not answering a key set
                raise TokenError(f"the identity provider's keys could not be fetched ({exc})") from exc
            if not refreshed:
                raise
            return self.verify(token)

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
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == "HS256" and self._secret is not None:
                claims = jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    issuer=self._issuer,
                    options={"require": ["sub", "role", "region", "exp", "iss"]},
                )
            elif algorithm in PROVIDER_ALGORITHMS and self._provider is not None:
                claims = self._decode_from_provider(token, self._provider, str(algorithm))
            else:
                # "none" among them: the algorithm is chosen here, never by the token.
                raise TokenError(f"tokens signed with {algorithm} are not accepted here")
            role = _one_role(claims["role"])
            region = str(claims["region"])
            check_scope(role, region)
            institution = claims.get("institution")
            institution_id = str(institution) if institution else None
            check_institution_scope(role, institution_id)
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise TokenError(str(exc)) from exc
        programs = claims.get("programs", ())
        # A provider may map a single-valued attribute as a string: one program, not its letters.
        programs = (programs,) if isinstance(programs, str) else tuple(str(p) for p in programs)
        principal = Principal(
            subject=str(claims["sub"]),
            role=role,
            region=region,
            programs=programs,
            name=_display_name(claims),
            institution_id=institution_id,
        )
        # The leeway admitted a token a little early or late; the cache must admit the same window.
        leeway = CLOCK_LEEWAY_SECONDS if algorithm in PROVIDER_ALGORITHMS else 0
        return principal, float(claims.get("nbf", 0)) - leeway, float(claims["exp"]) + leeway

    @staticmethod
    def _decode_from_provider(token: str, provider: ProviderKeys, algorithm: str) -> dict[str, Any]:
        kid = jwt.get_unverified_header(token).get("kid")
        key = provider.key(str(kid)) if kid else None
        if key is None:
            raise UnknownSigningKey(f"signed with a key ({kid}) the identity provider does not publish")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=provider.issuer,
            audience=provider.audience,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["sub", "role", "region", "exp", "iss", "aud"]},
        )
        return claims


NAME_MAX_LENGTH = 200  # what the contracts' Actor.name holds


def _display_name(claims: dict[str, Any]) -> str | None:
    """Who the person is to the provider: the ``name`` claim (OIDC's full name), else their
    ``preferred_username`` (all an agency's service account has: ``service-account-<client>``);
    None for a token with neither (a development token without ``--name``).

    A name the contracts would refuse (control or text-direction characters) must not turn every
    request of that person into a 500: it falls back to the next claim, or to none.
    """
    for claim in ("name", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str):
            value = value.strip()[:NAME_MAX_LENGTH].strip()
            if value and unsafe_character(value) is None:
                return value
    return None


def _one_role(claim: object) -> Role:
    """The provider maps realm roles as a list; a DTKS user holds exactly one DTKS role."""
    if isinstance(claim, str):
        return Role(claim)
    names = {r.value for r in Role}
    roles = [Role(name) for name in claim if name in names] if isinstance(claim, list) else []
    if len(roles) != 1:
        raise ValueError(f"a token must carry exactly one DTKS role, not {len(roles)}")
    return roles[0]
