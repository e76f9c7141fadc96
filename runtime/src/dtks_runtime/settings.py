"""Connection and runtime settings, read from the environment only."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# An obviously-local default: development tokens (HS256, dtks-token) work out of the box. In
# production no shared secret is used at all: services only verify the identity provider's tokens.
LOCAL_JWT_SECRET = "local-development-secret-not-for-production"


class RuntimeSettings(BaseSettings):
    """What every service needs to reach its infrastructure. Services subclass it for their own."""

    model_config = SettingsConfigDict(env_prefix="DTKS_", extra="ignore")

    env: str = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # The service's own database on that server; default dtks_<service>. A "{service}" in it is
    # replaced by the service's name, so one setting gives every service of a test run its own.
    database_name: str | None = None
    # Prepended to every topic name: lets tests and parallel runs share one broker without colliding.
    topic_prefix: str = ""
    jwt_secret: str = LOCAL_JWT_SECRET
    jwt_issuer: str = "dtks"
    # The OpenID Connect provider whose tokens the services accept (Keycloak's realm URL, e.g.
    # http://127.0.0.1:PORT/realms/dtks); unset: none. The audience is what its tokens' `aud` must
    # contain; the key set is found through the issuer's discovery document unless given.
    oidc_issuer: str | None = None
    oidc_audience: str = "dtks"
    oidc_jwks_url: str | None = None
    otel_exporter: str = Field(default="none", description="none | console | otlp")
    log_level: str = "info"

    def database_for(self, service: str) -> str:
        return (self.database_name or "dtks_{service}").replace("{service}", service)

    @property
    def production(self) -> bool:
        return self.env == "production"

    def shared_secret(self) -> str | None:
        """The HS256 secret services accept tokens signed with: none in production."""
        return None if self.production else self.jwt_secret

    def check_production_safety(self) -> None:
        if not self.production:
            return
        # Whoever holds a shared secret can mint any role's token, a Minister's included.
        if "jwt_secret" in self.model_fields_set:
            raise RuntimeError(
                "DTKS_JWT_SECRET must not be set in production: services verify the identity provider's "
                "tokens (DTKS_OIDC_ISSUER) and accept no shared-secret tokens"
            )
        if not self.oidc_issuer:
            raise RuntimeError(
                "DTKS_OIDC_ISSUER must be set in production: the identity provider's issuer URL"
            )
