"""Wiring of the console and its command line: ``dtks-console`` serves on DTKS_CONSOLE_PORT (8090)."""

from __future__ import annotations

import os

from dtks_console.app import build_app
from dtks_console.settings import DEFAULT_PORT, ConsoleSettings


def run() -> None:
    import uvicorn

    host = os.environ.get("DTKS_BIND_HOST", "127.0.0.1")
    port = int(os.environ.get("DTKS_CONSOLE_PORT", str(DEFAULT_PORT)))
    # DTKS_CONSOLE_WORKERS: the console's own count, for a system whose other services run one process.
    workers = int(os.environ.get("DTKS_CONSOLE_WORKERS") or os.environ.get("DTKS_WORKERS", "1"))
    options = {"host": host, "port": port, "log_config": None, "access_log": False}
    if workers > 1:
        # Several processes share the sign-in sessions only through the console's database.
        if not ConsoleSettings().database_url:
            raise RuntimeError(
                "several console processes need DTKS_DATABASE_URL: the sessions are shared there"
            )
        uvicorn.run("dtks_console.app:build_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(build_app(), **options)  # type: ignore[arg-type]
