"""FastAPI dependencies: who is calling (bearer token) and may they act here (role, region)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.auth.tokens import TokenError, TokenService
from dtks_runtime.problems import Problem

# A route that depends on this scheme needs a token: the runtime's body limits look for it to refuse
# a request without one before its body is read (see dtks_runtime.body_limits).
bearer_scheme = HTTPBearer(auto_error=False, description="A token from dtks-token or your identity provider")
REALM = "dtks"
T = TypeVar("T")


# The dependencies are ``async def`` although they do no I/O: FastAPI runs a plain ``def``
# dependency in a worker thread, and that hop cost more than the check itself.
async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Principal:
    return await _verified(request, credentials)


async def _verified(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    tokens: TokenService = request.app.state.tokens
    return await authenticate(tokens, credentials.credentials if credentials is not None else None)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (as HTTPBearer reads it), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(tokens: TokenService, token: str | None) -> Principal:
    """The principal a bearer token names, or a 401 problem carrying RFC 6750's ``WWW-Authenticate``.

    Without a token the challenge names no error (RFC 6750 section 3.1: the client may simply not have
    known that the route needs one); a refused token gets ``error="invalid_token"``.
    """
    if token is None:
        raise Problem(
            401,
            "unauthenticated",
            "Send a bearer token in the Authorization header.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    try:
        return await tokens.authenticate(token)
    except TokenError as exc:
        # error_description admits printable ASCII without quote and backslash (RFC 6750 section 3).
        reason = "".join(c for c in str(exc) if " " <= c <= "~" and c not in '"\\')[:200]
        challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{reason}"'
        raise Problem(
            401,
            "invalid_token",
            f"The bearer token was refused: {exc}.",
            headers={"WWW-Authenticate": challenge},
        ) from exc


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only the given roles."""
    allowed = frozenset(roles)

    # Verifies the token itself rather than depending on current_principal: each level of nested
    # dependencies costs FastAPI 5–7 µs per request (measured), on every call of every service.
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> Principal:
        principal = await _verified(request, credentials)
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Problem(
                403,
                "role_not_allowed",
                f"This needs one of the roles {names}; you act as {principal.role.value}.",
            )
        return principal

    return check


def ensure_in_scope(principal: Principal, region_code: str) -> None:
    """Nobody acts outside their region. A code that is not a region code is the client's to fix."""
    try:
        covered = principal.covers(region_code)
    except ValueError as exc:
        raise Problem(422, "invalid_region", f"{exc}.") from exc
    if not covered:
        raise Problem(
            403,
            "outside_region",
            f"Region {region_code} is outside your scope {principal.region}.",
        )


def found_in_scope(
    principal: Principal, found: T | None, region_of: Callable[[T], str], not_found: Exception
) -> T:
    """One rule for reading (or acting on) something by its id: outside the caller's scope it is missing.

    ``found`` is what the id named (None: nothing), ``region_of`` where it belongs, ``not_found`` the
    404 the route gives for an unknown id (a ``Problem``, or a ``DomainError`` the service's table maps to 404). The same answer for "does not exist" and "exists
    elsewhere" tells a caller nothing about other regions, not even that the id is taken.
    """
    if found is None or not principal.covers(region_of(found)):
        raise not_found
    return found


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
