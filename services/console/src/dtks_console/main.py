"""Wiring of the console and its command line: ``dtks-console`` serves on DTKS_CONSOLE_PORT (8090)."""

from __future__ import annotations

import os

from dtks_console.app import build_app
from dtks_console.settings import DEFAULT_PORT


def run() -> None:
    import uvicorn

    host = os.environ.get("DTKS_BIND_HOST", "127.0.0.1")
    port = int(os.environ.get("DTKS_CONSOLE_PORT", str(DEFAULT_PORT)))
    # One process: the sessions are kept in its memory.
    uvicorn.run(build_app(), host=host, port=port, log_config=None, access_log=False)
