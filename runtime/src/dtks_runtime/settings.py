"""Connection and runtime settings, read from the environment only."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# An obviously-local default: development tokens work out of the box, and any real deployment
# must set DTKS_JWT_SECRET (the services refuse this value when DTKS_ENV=production).
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
    otel_exporter: str = Field(default="none", description="none | console | otlp")
    log_level: str = "info"

    def database_for(self, service: str) -> str:
        return (self.database_name or "dtks_{service}").replace("{service}", service)

    def check_production_safety(self) -> None:
        if self.env == "production" and self.jwt_secret == LOCAL_JWT_SECRET:
            raise RuntimeError("DTKS_JWT_SECRET must be set in production")
