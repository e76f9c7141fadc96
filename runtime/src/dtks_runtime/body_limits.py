"""Request bodies refused before they are read: a size limit per route, and the bearer token first.

FastAPI reads and parses a route's whole body before it runs the route's dependencies, so a
route's token was checked only after its body was in memory, and nothing bounded the body: 50 MB
of JSON without a token took a service from about 75 MB to 1.3 GB of memory before its 401, and
drove the civil-registry simulator past 4 GB (22 GB before the kernel killed it, in the report).

:class:`BodyLimitMiddleware` wraps ``receive``. When the route first asks for its body (the router
has matched it by then: ``scope["route"]``), it

1. answers 401 if the route needs a bearer token and the request has none or a refused one, before
   a byte of the body is read (the route's own dependency checks roles and regions later, as before);
2. answers 413 if the declared ``Content-Length`` exceeds the route's limit, the body unread;
3. counts the bytes as they arrive and answers 413 as soon as they pass the limit (a chunked body
   declares no length).

Every route gets the default limit (``DTKS_HTTP_MAX_BODY_BYTES``, 1 MiB: a proposal with twenty
members is about 10 kB); a route that needs more declares it by method and path template, e.g.
``{"POST /imports": 257 * MiB}``. A multipart upload is streamed by Starlette into a temporary
file that spills to disk after 1 MiB, so its limit bounds the disk it takes, not the memory.

The unread rest of a refused body is drained and dropped by the server (uvicorn keeps reading the
connection and discards it), so the client still gets the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dtks_runtime.auth.deps import authenticate, bearer_scheme, bearer_token
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.problems import Problem, problem_response

MiB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MiB


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes a request body may have: ``default``, or a route's own in ``routes``, keyed
    ``"METHOD /path/{template}"`` as the route is declared (its OpenAPI path)."""

    default: int = DEFAULT_MAX_BODY_BYTES
    routes: Mapping[str, int] = field(default_factory=dict)

    def of(self, method: str, path: str) -> int:
        return self.routes.get(f"{method} {path}", self.default)


def body_too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body_too_large",
        f"The request body is larger than the {limit:,} bytes this route accepts; send less in one "
        "request (split the batch or the file).",
        extra={"max_bytes": limit},
    )


class BodyRefused(StarletteHTTPException):
    """Raised from ``receive``. An HTTP exception because FastAPI passes those on unchanged from the
    reading of a body (anything else it turns into a 400); the app's handler answers ``problem``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail, headers=problem.headers or None)
        self.problem = problem


@dataclass(frozen=True)
class _RoutePolicy:
    limit: int
    needs_token: bool


def _needs_token(dependant: Any) -> bool:
    """Whether a FastAPI route depends, at any depth, on the bearer scheme (require_role and
    CurrentPrincipal do)."""
    if dependant is None:
        return False
    return any(d.call is bearer_scheme or _needs_token(d) for d in dependant.dependencies)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyLimitMiddleware:
    """See the module's docstring. ``tokens`` verifies bearer tokens (None: an app without them)."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits, tokens: TokenService | None = None) -> None:
        self.app = app
        self.limits = limits
        self.tokens = tokens
        # By route object (id: Starlette routes compare by value and are not hashable) and method.
        self._policies: dict[tuple[int, str], _RoutePolicy] = {}

    def _policy(self, scope: Scope) -> _RoutePolicy:
        route = scope.get("route")
        method = scope["method"]
        key = (id(route), method)
        policy = self._policies.get(key)
        if policy is None:
            path = getattr(route, "path", None)
            limit = self.limits.of(method, path) if path is not None else self.limits.default
            policy = _RoutePolicy(limit, _needs_token(getattr(route, "dependant", None)))
            if route is not None:  # routes live as long as the app; an unmatched request is not kept
                self._policies[key] = policy
        return policy

    async def _check_before_reading(self, scope: Scope, policy: _RoutePolicy) -> None:
        if policy.needs_token and self.tokens is not None:
            try:
                await authenticate(self.tokens, bearer_token(_header(scope, b"authorization")))
            except Problem as problem:
                raise BodyRefused(problem) from None
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > policy.limit:
            raise BodyRefused(body_too_large(policy.limit))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy: _RoutePolicy | None = None
        received = 0
        started = False

        async def receive_within_limit() -> Message:
            nonlocal policy, received
            if policy is None:  # the route's first read: the router has matched it by now
                policy = self._policy(scope)
                await self._check_before_reading(scope, policy)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > policy.limit:
                    raise BodyRefused(body_too_large(policy.limit))
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_noting_start)
        except BodyRefused as refused:
            # A FastAPI app answers through its exception handler (install_body_limits); this is for
            # a body read outside FastAPI's request handling (a plain Starlette route).
            if started:
                raise
            await problem_response(refused.problem, Request(scope))(scope, receive, send)


async def answer_refused_body(request: Request, exc: Exception) -> Any:
    """The app's exception handler for :class:`BodyRefused`: its problem document."""
    assert isinstance(exc, BodyRefused)
    return problem_response(exc.problem, request)
