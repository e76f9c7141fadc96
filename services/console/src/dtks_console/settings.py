"""The console's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 8090


class ConsoleSettings(BaseSettings):
    """Where the identity provider and the services are. The console keeps no register data, so it
    needs neither the database nor the broker."""

    model_config = SettingsConfigDict(env_prefix="DTKS_", extra="ignore")

    env: str = "development"
    # The realm people sign in at (Keycloak's issuer URL, as the browser reaches it) and the console's
    # client there: public, authorization code with PKCE.
    oidc_issuer: str | None = None
    console_client_id: str = "dtks-console"
    # The services' public HTTP APIs, called with the signed-in person's own token.
    proposal_url: str = "http://127.0.0.1:8001"
    verification_url: str = "http://127.0.0.1:8002"
    registry_url: str = "http://127.0.0.1:8003"
    notification_url: str = "http://127.0.0.1:8004"
    complaints_url: str = "http://127.0.0.1:8007"
    # The address browsers reach the console at, for the sign-in redirect; unset: the request's own.
    console_public_url: str | None = None
    # Signs the session cookie (which holds only a session id). Unset: with a database, a random key
    # made once and kept there for every process; without, a random key per process, so a restart
    # signs everyone out, as the in-memory sessions are gone then anyway.
    console_session_secret: str | None = None
    # A session nobody used for this long is forgotten (Keycloak's own idle limit is 30 minutes).
    console_session_idle_seconds: float = Field(default=1800, gt=0)
    # The console's own small database, for its sign-in sessions only (it keeps no register data):
    # with it, several console processes (DTKS_WORKERS) share the sessions. Unset: sessions stay in
    # the memory of the one process. DTKS_DATABASE_NAME as for the services ("{service}": console).
    database_url: str | None = None
    database_name: str | None = None
    log_level: str = "info"

    @property
    def production(self) -> bool:
        return self.env == "production"
