"""The HTTP edge every app of the project shares: correlation ids, unexpected errors, body limits.

:func:`install_http_edge` wires it into an app (``create_app`` does for the services; the
civil-registry simulator, which has no runtime, calls it itself), outermost first:

- :class:`CorrelationMiddleware`: every answer carries ``X-Correlation-Id`` (the client's or a new
  one), every problem document its ``correlation_id``, every log line of the request the same id;
  an exception no handler took is logged here, once, as one structured record, and answered with a
  500 problem document that carries the id too;
- :class:`dtks_runtime.body_limits.BodyLimitMiddleware`: a size limit per route while the body is
  read, and the bearer token checked before it is.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.body_limits import BodyLimitMiddleware, BodyLimits, BodyRefused, answer_refused_body
from dtks_runtime.problems import internal_error, problem_response
from dtks_runtime.telemetry import bound, get_logger

log = get_logger(__name__)


def install_http_edge(app: FastAPI, *, limits: BodyLimits, tokens: TokenService | None) -> None:
    """Add the edge's middleware to ``app``. Call it after any other ``add_middleware``: the
    correlation middleware must be the outermost of the app's own, so that every answer, those of
    other middleware included, carries the id and no error passes it unlogged."""
    app.add_exception_handler(BodyRefused, answer_refused_body)
    app.state.body_limits = limits
    app.add_middleware(BodyLimitMiddleware, limits=limits, tokens=tokens)
    app.add_middleware(CorrelationMiddleware)


class CorrelationMiddleware:
    """Gives every request a correlation id (the client's ``X-Correlation-Id`` or a new one), binds it
    to the request's logs, puts it in ``request.state.correlation_id`` and echoes it in the answer.

    An exception that reaches it is the request's unexpected error: logged here as one structured
    record (with the id, method, path and traceback) and answered 500 with a problem document. It is
    not raised further: Starlette's ServerErrorMiddleware would answer without the id, and it and
    uvicorn would each write the traceback again as plain text (one log grew by 122,911 lines so).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs each
    request in an extra task group with streamed bodies, which cost about a tenth of a submission's CPU.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A client may send its own correlation id to follow one submission across services.
        correlation_id = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-correlation-id" and v), None
        ) or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        header = (b"x-correlation-id", correlation_id.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-correlation-id"]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        with bound(correlation_id=correlation_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error", method=scope.get("method"), path=scope.get("path"))
                if not started:  # else the answer is cut short; the server closes the connection
                    await problem_response(internal_error(), Request(scope))(scope, receive, send_with_id)
