"""What every answer of the console carries at its edge: the assets' year-long caching and the
security headers of a page that must work on an intranet with no internet."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


class CachedStatic(StaticFiles):
    """Assets are addressed by content hash (pages.static_url): cacheable for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


async def security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    # Only the console's own scripts and styles: the console works on an intranet with no internet.
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
