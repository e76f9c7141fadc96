"""What every answer of the console carries at its edge: the assets' year-long caching and the
security headers of a page that must work on an intranet with no internet."""

from __future__ import annotations

from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CachedStatic(StaticFiles):
    """Assets are addressed by content hash (pages.static_url): cacheable for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


# Only the console's own scripts and styles: the console works on an intranet with no internet.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer that does not set them itself. A plain ASGI middleware,
    not ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs each answer through a task
    and a memory stream, about 7% of the console's CPU on the queue page under load (py-spy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
