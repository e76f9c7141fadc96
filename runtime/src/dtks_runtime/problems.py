"""RFC 9457 problem documents: every error a client can cause has a stable code and a sentence to act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dtks_runtime.errors import DomainError, field_path, status_of
from dtks_runtime.telemetry import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.title = title or code.replace("_", " ").capitalize()
        self.errors = errors or []
        self.extra = extra or {}
        # Headers the answer must carry with this problem (WWW-Authenticate on a 401, say).
        self.headers = headers or {}

    def document(self, instance: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"urn:dtks:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
        }
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extra)
        return doc


def problem_response(
    problem: Problem, request: Request, headers: dict[str, str] | None = None
) -> JSONResponse:
    document = problem.document(request.url.path)
    # The id an operator quotes when asking what went wrong: the same as in the X-Correlation-Id
    # header and on every log line of the request (set by the runtime's CorrelationMiddleware).
    correlation_id = request.scope.get("state", {}).get("correlation_id")
    if correlation_id is not None:
        document.setdefault("correlation_id", correlation_id)
    return JSONResponse(
        document,
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers={**problem.headers, **(headers or {})},
    )


def validation_errors(errors: Sequence[Mapping[str, Any]], *, within: str = "") -> list[dict[str, Any]]:
    """Pydantic's errors as the problem document's ``errors``: one ``field``/``message``/``type``
    each (and ``params`` when the error has plain ones), the field named as an operator sees it (``members[0].nik``). ``within`` names where the
    validated value sits when pydantic validated a part of the request (``"body"`` for a body read
    by hand), so that every service names fields the same way."""
    out = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if within:
            loc = (within, *loc)
        error = {"field": field_path(loc), "message": e.get("msg", ""), "type": e.get("type", "")}
        # A coded refusal's parameters (dtks_contracts' own errors: the NIK's length...), for a client
        # that says the message in its user's language; pydantic's own context may hold objects.
        params = e.get("ctx") or {}
        if params and all(isinstance(v, str | int | float | bool) for v in params.values()):
            error["params"] = dict(params)
        out.append(error)
    return out


def problem_from_domain_error(error: DomainError, statuses: Mapping[str, int]) -> Problem:
    return Problem(
        status_of(error.code, statuses), error.code, error.detail, errors=error.errors, extra=error.extra
    )


def install_problem_handlers(app: FastAPI, error_statuses: Mapping[str, int] | None = None) -> None:
    """``error_statuses``: the service's one table from a :class:`DomainError`'s code to its HTTP
    status (see dtks_runtime.errors)."""
    statuses = dict(error_statuses or {})

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        problem = problem_from_domain_error(exc, statuses)
        # A refusal that says when to come back says it in the header clients and proxies read too.
        retry_after = exc.extra.get("retry_after")
        headers = {"retry-after": str(retry_after)} if problem.status == 429 and retry_after else None
        return problem_response(problem, request, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        names = ", ".join(sorted({e["field"] for e in errors}))
        problem = Problem(422, "invalid_request", f"The request has invalid fields: {names}.", errors=errors)
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 401:  # RFC 6750: a 401 names the scheme it wants
            headers.setdefault("WWW-Authenticate", 'Bearer realm="dtks"')
        problem = Problem(exc.status_code, code, str(exc.detail))
        return problem_response(problem, request, headers=headers)

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    async def _unstorable_text(request: Request, exc: asyncpg.CharacterNotInRepertoireError) -> JSONResponse:
        # PostgreSQL text cannot hold a NUL character (\u0000), which JSON strings may carry: only a
        # client's input brings one, so it is the client's to fix, not a server error.
        problem = Problem(
            422,
            "invalid_characters",
            "The request contains a NUL character (\\u0000) in a text field; remove it and send again.",
        )
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only by an app without the runtime's http_edge, whose CorrelationMiddleware takes
        # unexpected errors first (and, unlike this handler, keeps Starlette from re-raising them).
        log.exception("unhandled error", path=request.url.path)
        return problem_response(internal_error(), request)


def internal_error() -> Problem:
    """The answer to a failure of ours: the client cannot fix it; the correlation id (in the document
    and the X-Correlation-Id header) finds the one log record that tells what happened."""
    return Problem(500, "internal_error", "Something went wrong on our side; nothing was changed.")
