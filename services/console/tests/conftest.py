"""The console against the real system: a private Keycloak with the realm, every service as its own
process (the console among them, signing people in at that Keycloak), and Debian's Chromium driven
by Playwright. The browser is started once per run; each person signs in once, in their own context."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from dtks_runtime.identity_testing import Keycloak, KeycloakAdmin
from dtks_runtime.local_system import LocalSystem, running
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[3]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by `stack.py install`


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    # pytest-playwright's fixtures, should a test use them, get Debian's Chromium: Playwright's own
    # download is not reachable, and the tests run as root, where Chromium's sandbox cannot start.
    return {"executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture(scope="module")
def chromium(console_system: LocalSystem) -> Iterator[Browser]:
    """One browser for a module's tests, stopped at its end. Not pytest-playwright's session-scoped
    ``browser``: Playwright's sync API keeps an event loop marked running in the main thread while it
    is started, and every async test after it in the run (pytest-asyncio) would fail. Asking for the
    system first also stops the browser before the system and its Keycloak, whose teardown runs an
    event loop of its own."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**{"executable_path": CHROMIUM, "args": ["--no-sandbox"]})
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def console_system(infra: Infra, keycloak: Keycloak) -> Iterator[LocalSystem]:
    """Every service, the console included, accepting and using that Keycloak's tokens."""
    with running(
        infra, SERVICES_SCRIPT, label="con", extra_env={"DTKS_OIDC_ISSUER": keycloak.issuer}
    ) as system:
        # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(
                asyncio.run, KeycloakAdmin(keycloak).allow_console_at(system.urls["console"])
            ).result()
        yield system


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console-screens")
    print(f"\nconsole screenshots in {folder}")
    return folder
