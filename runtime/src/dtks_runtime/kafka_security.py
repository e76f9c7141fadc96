"""How every Kafka client of the runtime authenticates: one place that turns settings into kwargs.

The relay's producer, the consumers, the topic administration, the replay and the dead-letter tools
all take their security options from here, so a service pointed at a SASL cluster
(DTKS_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL, DTKS_KAFKA_SASL_MECHANISM=SCRAM-SHA-512,
DTKS_KAFKA_USERNAME, DTKS_KAFKA_PASSWORD) logs in everywhere as its own principal, which the broker's
ACLs then hold to its own topics. PLAINTEXT (the default, for the local stack and the tests) adds
nothing; production refuses it (RuntimeSettings.check_production_safety).
"""

from __future__ import annotations

import ssl
from typing import Any

from dtks_runtime.settings import RuntimeSettings


def kafka_security(settings: RuntimeSettings | None = None) -> dict[str, Any]:
    """The aiokafka keyword arguments for ``settings`` (read from the environment when None, as the
    command-line tools do)."""
    s = settings if settings is not None else RuntimeSettings()
    protocol = s.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=s.kafka_ssl_cafile)
    if protocol.startswith("SASL_"):
        if not s.kafka_username or not s.kafka_password:
            raise RuntimeError(f"DTKS_KAFKA_USERNAME and DTKS_KAFKA_PASSWORD are needed with {protocol}")
        options |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_username,
            "sasl_plain_password": s.kafka_password,
        }
    return options
