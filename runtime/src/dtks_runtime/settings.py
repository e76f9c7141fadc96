"""Connection and runtime settings, read from the environment only."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dtks_runtime.provenance import TOPIC_OWNERS, EventSigner, ProvenanceCheck, event_keys

# An obviously-local default: development tokens (HS256, dtks-token) work out of the box. In
# production no shared secret is used at all: services only verify the identity provider's tokens.
LOCAL_JWT_SECRET = "local-development-secret-not-for-production"


class RuntimeSettings(BaseSettings):
    """What every service needs to reach its infrastructure. Services subclass it for their own."""

    model_config = SettingsConfigDict(env_prefix="DTKS_", extra="ignore")

    env: str = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # How the Kafka clients authenticate (dtks_runtime.kafka_security): PLAINTEXT for the local stack
    # and tests; a production cluster uses SASL_SSL (or SASL_PLAINTEXT inside a private network) with
    # SCRAM-SHA-512 and one login per service, which the broker's ACLs hold to its own topics.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: str | None = None
    kafka_ssl_cafile: str | None = None  # with SSL/SASL_SSL: the CA of the brokers' certificates
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # The service's own database on that server; default dtks_<service>. A "{service}" in it is
    # replaced by the service's name, so one setting gives every service of a test run its own.
    database_name: str | None = None
    # Connections the service's pool may open. A request waits for one while all are taken, and
    # under 50 concurrent clients those waits made the tail: the public complaint form's p99 fell
    # from 224 to 76 ms with a pool of 50 instead of 10 (README, "public complaints"). Each
    # service's connections count against PostgreSQL's max_connections (300 in deploy/local).
    db_pool_max_size: int = Field(default=10, ge=2, le=200)
    # Prepended to every topic name: lets tests and parallel runs share one broker without colliding.
    topic_prefix: str = ""
    jwt_secret: str = LOCAL_JWT_SECRET
    jwt_issuer: str = "dtks"
    # Event signing keys, JSON {"service": "secret"}: a service's own (its relay signs with it) and
    # those of the services whose events it verifies (see dtks_runtime.provenance). Unset outside
    # production: development keys derived from the service names.
    event_keys: dict[str, str] = Field(default_factory=dict)
    # The OpenID Connect provider whose tokens the services accept (Keycloak's realm URL, e.g.
    # http://127.0.0.1:PORT/realms/dtks); unset: none. The audience is what its tokens' `aud` must
    # contain; the key set is found through the issuer's discovery document unless given.
    oidc_issuer: str | None = None
    oidc_audience: str = "dtks"
    oidc_jwks_url: str | None = None
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

    @property
    def production(self) -> bool:
        return self.env == "production"

    def event_signer(self, service: str) -> EventSigner:
        """What the service's outbox relay signs its records with."""
        return EventSigner(
            service, event_keys(self.event_keys, production=self.production, services=[service])[service]
        )

    def provenance_check(self, owners: Iterable[str] = TOPIC_OWNERS) -> ProvenanceCheck:
        """Verifies records of ``owners``' topics (by default every service's)."""
        keys = event_keys(self.event_keys, production=self.production, services=owners)
        return ProvenanceCheck({s: keys[s] for s in owners}, self.topic_prefix)

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
        if self.kafka_security_protocol.upper() == "PLAINTEXT":
            # Anyone who reaches the broker could write any topic: the audit trail's first defence.
            raise RuntimeError(
                "DTKS_KAFKA_SECURITY_PROTOCOL must be SASL_SSL or SASL_PLAINTEXT (with the service's own "
                "DTKS_KAFKA_USERNAME/PASSWORD) in production, not PLAINTEXT"
            )
        if not self.event_keys:
            # Development keys are derived from public names: anyone could sign as any service.
            raise RuntimeError("DTKS_EVENT_KEYS must give the services' event signing keys in production")
