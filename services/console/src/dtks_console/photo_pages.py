"""A visit's photo in the browser: the console fetches it from the verification service with the
signed-in person's own token (the browser never holds it) and passes the bytes on with the service's
type and ETag. The service decides who may see which photo; the console only shapes the request."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dtks_console.access import access_of
from dtks_console.backend import Services

router = APIRouter()

SHA256 = re.compile(r"[0-9a-f]{64}")
# A photo is named by its hash, so its bytes never change; "private" keeps shared caches out of it.
CACHE = "private, max-age=31536000, immutable"


def photo_hash(raw: str) -> str | None:
    """The photo's SHA-256 as the service names it (64 lowercase hex digits), or None."""
    lowered = raw.lower()
    return lowered if SHA256.fullmatch(lowered) else None


def already_held(if_none_match: str | None, sha256: str) -> bool:
    """Whether the browser's If-None-Match names this photo's ETag (the hash; weak or strong)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
    return sha256 in tags or "*" in tags


@router.get("/photos/{sha256}")
async def photo(request: Request, sha256: str) -> Response:
    access = access_of(request)
    _session, token = await access.signed_in(request)
    wanted = photo_hash(sha256)
    if wanted is None:
        return Response(status_code=404, content="photo_not_found", media_type="text/plain")
    etag = f'"{wanted}"'
    if already_held(request.headers.get("if-none-match"), wanted):
        # The bytes under a hash never change and a 304 carries none: the browser already holds them.
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE})
    services: Services = request.app.state.services
    answer = await services.http.get(
        f"{services.base['verification']}/evidence/{wanted}",
        headers={"Authorization": f"Bearer {token}"},
    )
    if answer.status_code == 401:
        raise access.needs_sign_in
    if answer.status_code != 200:
        status = 404 if answer.status_code in (403, 404) else 502
        return Response(
            status_code=status, content="photo_not_found" if status == 404 else "", media_type="text/plain"
        )
    return Response(
        content=answer.content,
        media_type=answer.headers.get("content-type", "application/octet-stream"),
        headers={
            "ETag": answer.headers.get("etag", etag),
            "Cache-Control": CACHE,
            "X-Content-Type-Options": "nosniff",
        },
    )
