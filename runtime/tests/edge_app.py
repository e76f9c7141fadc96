"""A small app served the way every service is (``serve()``: uvicorn, the runtime's logging and
HTTP edge), for test_http_edge.py to run as its own process. Not a test module itself.

    python edge_app.py      # port from EDGE_APP_PORT; DTKS_* settings from the environment
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.body_limits import BodyLimits
from dtks_runtime.http_edge import install_http_edge
from dtks_runtime.problems import install_problem_handlers
from dtks_runtime.service import serve
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.telemetry import configure_logging


def build_app() -> FastAPI:
    settings = RuntimeSettings()
    configure_logging("edge-app", settings.log_level)
    app = FastAPI()
    app.state.settings = settings
    install_problem_handlers(app)
    install_http_edge(app, limits=BodyLimits(settings.http_max_body_bytes), tokens=TokenService("unused"))

    @app.get("/client")
    async def client(request: Request) -> dict[str, Any]:
        return {"host": request.client.host if request.client else None}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug of ours")

    return app


if __name__ == "__main__":
    serve(build_app(), port_env="EDGE_APP_PORT", default_port=0)
