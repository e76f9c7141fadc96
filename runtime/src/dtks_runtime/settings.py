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
    # Largest request body a route takes unless it declares its own limit (see body_limits): 1 MiB.
    http_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or
    # networks, e.g. "10.0.0.5,10.1.0.0/16"); empty, the default: none, so a client's address is
    # the peer's and a header a client writes itself changes nothing (rate limits key on it).
    forwarded_allow_ips: str = ""

    def database_for(self, service: str) -> str:
        return (self.database_name or "dtks_{service}").replace("{service}", service)

    def check_production_safety(self) -> None:
        if self.env == "production" and self.jwt_secret == LOCAL_JWT_SECRET:
            raise RuntimeError("DTKS_JWT_SECRET must be set in production")
