"""The console's own health (its process answers) and readiness (the identity provider answers)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dtks_console.signed_in_person import oidc_of

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok", "service": "console"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    try:
        await oidc_of(request).discovery()
    except httpx.HTTPError as exc:
        return JSONResponse({"status": "not_ready", "identity_provider": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})
