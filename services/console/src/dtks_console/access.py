"""What the pages of every tier share with the console's core: the signed-in person, their token,
the form's CSRF check and the services' APIs. The core (app.py) builds one and keeps it on the app,
so each tier's pages live in a module of their own without importing the core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from dtks_console.backend import Answer, Services
from dtks_console.sessions import Session


@dataclass(frozen=True)
class Access:
    signed_in: Callable[[Request], Awaitable[tuple[Session, str]]]
    person: Callable[[Session], dict[str, Any]]
    check_csrf: Callable[[Session, str], None]
    needs_sign_in: type[Exception]
    # Writes a session a page changed (a form's kept answer), for the console's other processes.
    save_session: Callable[[Request, Session], Awaitable[None]]

    async def call(
        self, request: Request, service: str, method: str, path: str, token: str, **kwargs: Any
    ) -> Answer:
        """The service's answer; a refused token (the session ended at the provider) means sign in."""
        services: Services = request.app.state.services
        answer = await services.call(service, method, path, token, **kwargs)
        if answer.status == 401:
            raise self.needs_sign_in
        return answer


def access_of(request: Request) -> Access:
    found: Access = request.app.state.access
    return found
