"""Topic administration: the project creates its topics with their partitions and retention.

Broker auto-creation is off (deploy/local), so a topic exists only if the project made it with the
settings of its contract (:mod:`dtks_contracts.topics`); domain topics keep their events forever,
since they are the audit log.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from dtks_contracts.topics import TopicSpec, dead_letter_spec, dead_letter_topic
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)
# How long ensure_topics waits for the topics it asked for to show in the brokers' metadata.
_VISIBLE_WITHIN_SECONDS = 30.0
# On a cluster with ACLs a service may create only its own topics; the others are the administrator's
# (or their owners') to create, and reading them is all this service needs.
_NOT_OURS = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}

__all__ = [
    "consumer_topics",
    "dead_letter_topic",
    "delete_prefixed_topics",
    "ensure_topics",
    "retry_topic",
    "scratch_topic",
]


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


async def _started_admin(bootstrap: str, security: Mapping[str, Any] | None) -> AIOKafkaAdminClient:
    """An admin client, started, with the login given (None: the environment's); the caller closes it."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **(kafka_security() if security is None else security)
    )
    await admin.start()
    return admin


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], *, security: Mapping[str, Any] | None = None
) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Safe to run again.

    The replication factor follows the cluster (see :func:`cluster_replication`); DTKS_TOPIC_REPLICATION
    overrides it. A topic the login may not create is left to whoever may (see _NOT_OURS).
    """
    admin = await _started_admin(bootstrap, security)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in specs if spec.name not in existing]
        override = os.environ.get("DTKS_TOPIC_REPLICATION")
        if not wanted:
            return created
        replication_factor = int(override) if override else await cluster_replication(admin)
        made: dict[str, int] = {}  # name -> partitions, of the topics that exist now
        for spec in wanted:
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
                    made[name] = spec.partitions
                elif code in _NOT_OURS:
                    log.info("topic not created: this login may not; an administrator creates it", topic=name)
                elif code == TopicAlreadyExistsError.errno:  # created meanwhile by another process
                    made[name] = spec.partitions
                else:
                    raise RuntimeError(f"cannot create topic {name}: error {code} {rest}")
        await _until_visible(admin, made)
    finally:
        await admin.close()
    return created


async def delete_prefixed_topics(
    bootstrap: str, prefix: str, *, security: Mapping[str, Any] | None = None
) -> list[str]:
    """Delete every topic whose name begins with ``prefix``; return the names deleted.

    For a run that made its own topics under its own prefix (a benchmark's on a stack it shares):
    domain topics keep their records forever, so a benchmark at a million households left some GB
    behind in each run. Refuses an empty prefix, which would name every topic of the cluster.
    """
    if not prefix:
        raise ValueError("delete_prefixed_topics: an empty prefix would delete every topic")
    admin = await _started_admin(bootstrap, security)
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        if names:
            response = await admin.delete_topics(names)
            failed = [(name, code) for name, code, *_ in response.topic_error_codes if code != 0]
            if failed:
                raise RuntimeError(f"cannot delete topics: {failed}")
        return names
    finally:
        await admin.close()


async def _until_visible(admin: AIOKafkaAdminClient, partitions: Mapping[str, int]) -> None:
    """Return once every topic named has all its partitions, each with a leader, in the metadata.

    CreateTopics answers when the controller has recorded a topic, before the brokers' metadata
    shows it. A consumer that joins its group in between is assigned nothing of that topic, and
    aiokafka looks again only at its next metadata refresh (``metadata_max_age_ms``, five minutes):
    that topic's events would wait that long (a CI run saw "Topic ... not found in cluster
    metadata" from a service that had just created it). The services create their topics before
    they start their consumers, so waiting here closes the gap. A cluster slower than the bound is
    logged and left to the consumers' refresh, rather than failing the service's start."""
    deadline = time.monotonic() + _VISIBLE_WITHIN_SECONDS
    missing = dict(partitions)
    while missing:
        for topic in await admin.describe_topics(list(missing)):
            known = [p for p in topic["partitions"] if p["leader"] >= 0]
            if topic["error_code"] == 0 and len(known) >= missing.get(topic["topic"], 0):
                missing.pop(topic["topic"], None)
        if not missing:
            return
        if time.monotonic() > deadline:
            log.warning("topics not yet in the brokers' metadata", topics=sorted(missing))
            return
        await asyncio.sleep(0.1)


async def cluster_replication(admin: AIOKafkaAdminClient) -> int:
    """The replication factor the cluster gives new topics: its brokers' ``default.replication.factor``
    (deploy/local/stack.py sets it from the cluster's size, 3 on three brokers; Strimzi's ``Kafka``
    resource in deploy/kubernetes does too), so no number is written into the services. A login
    that may not read the brokers' configuration gets the number of brokers, at most three.

    (Kafka's own "-1: the broker's default" needs CreateTopics v4, which aiokafka does not send.)"""
    metadata = await admin.describe_cluster()
    brokers = [b["node_id"] for b in metadata["brokers"]]
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(brokers[0]), {"default.replication.factor": None})]
        )
        for answer in answers:
            for error_code, _, _, _, entries in answer.resources:
                if error_code == 0:
                    for name, value, *_ in entries:
                        if name == "default.replication.factor" and value:
                            return int(value)
    except (ClusterAuthorizationFailedError, TopicAuthorizationFailedError):
        pass
    return replication_for_brokers(len(brokers))


def replication_for_brokers(brokers: int) -> int:
    """Three copies where three brokers or more answer, else one on each broker there is."""
    return max(1, min(brokers, 3))
