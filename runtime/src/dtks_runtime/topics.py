"""Topic administration: the project creates its topics with their partitions and retention.

Broker auto-creation is off (deploy/local), so a topic exists only if the project made it with the
settings of its contract (:mod:`dtks_contracts.topics`); domain topics keep their events forever,
since they are the audit log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from dtks_contracts.topics import TopicSpec, dead_letter_spec, dead_letter_topic
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)
# On a cluster with ACLs a service may create only its own topics; the others are the administrator's
# (or their owners') to create, and reading them is all this service needs.
_NOT_OURS = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}

__all__ = ["consumer_topics", "dead_letter_topic", "ensure_topics", "retry_topic", "scratch_topic"]


def retry_topic(consumer: str, prefix: str = "") -> str:
    """Where replayed dead letters go: read only by the consumer that dead-lettered them."""
    return f"{prefix}dtks.retry.{consumer}"


def consumer_topics(consumer: str, prefix: str = "") -> list[TopicSpec]:
    """The dead-letter and retry topics a consumer group needs beside the domain topics it reads."""
    return [
        dead_letter_spec(consumer, prefix),
        TopicSpec(
            name=retry_topic(consumer, prefix),
            partitions=1,
            key_field="(the dead letter's own key)",
            description=f"Dead letters of {consumer} sent back for another try",
        ),
    ]


def scratch_topic(name: str, partitions: int = 3) -> TopicSpec:
    """A topic outside the contracts, for the runtime's own tests and benchmarks."""
    return TopicSpec(name=name, partitions=partitions, key_field="aggregate_id")


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], *, security: Mapping[str, Any] | None = None
) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Safe to run again.

    The replication factor comes from DTKS_TOPIC_REPLICATION (1 on the single local broker; a real
    cluster sets 3). A topic the login may not create is left to whoever may (see _NOT_OURS).
    """
    replication_factor = int(os.environ.get("DTKS_TOPIC_REPLICATION", "1"))
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **(kafka_security() if security is None else security)
    )
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for spec in specs:
            if spec.name in existing:
                continue
            topic = NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.config(),
            )
            response = await admin.create_topics([topic])
            for name, code, *rest in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif code in _NOT_OURS:
                    log.info("topic not created: this login may not; an administrator creates it", topic=name)
                elif code != TopicAlreadyExistsError.errno:  # else: created meanwhile by another process
                    raise RuntimeError(f"cannot create topic {name}: error {code} {rest}")
    finally:
        await admin.close()
    return created
