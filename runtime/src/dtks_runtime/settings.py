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
    # What /healthz and /readyz hold against the infrastructure (see ServiceRuntime.health). The
    # database and the broker are probed with this timeout; the broker's answer is reused for
    # health_probe_cache_seconds, so a monitor polling every second costs one metadata call a while.
    health_probe_timeout_seconds: float = 2.0
    health_probe_cache_seconds: float = 2.0
    # Degraded when the oldest event still waiting in the outbox is older than this: the relay
    # publishes within a second when it can, so a minute means it cannot (broker away, relay stuck).
    health_max_outbox_age_seconds: float = 60.0
    # Degraded when a consumer has not polled the broker for this long. A poll is at most 0.5 s
    # apart while idle; a consumer applying one very large batch polls again only after it.
    health_max_seconds_since_poll: float = 60.0

    def database_for(self, service: str) -> str:
        return (self.database_name or "dtks_{service}").replace("{service}", service)

    def check_production_safety(self) -> None:
        if self.env == "production" and self.jwt_secret == LOCAL_JWT_SECRET:
            raise RuntimeError("DTKS_JWT_SECRET must be set in production")
