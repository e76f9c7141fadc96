#!/usr/bin/env python3
"""Write the Kubernetes manifests of a DTKS deployment into ``deploy/kubernetes/manifests``.

One table of services (their ports, sizes, the secrets they need), the topics of the contracts
(``dtks_contracts.topics``: names, partitions, retention) and the Kafka logins of
``deploy/local/stack.py`` (``SERVICE_READS``) become plain YAML, so the manifests never drift from
what the code expects: ``tests/test_kubernetes_manifests.py`` regenerates them and fails when the
committed files differ, then validates them offline (``deploy/kubernetes/validate.py``).

    .venv/bin/python deploy/kubernetes/generate.py     # after changing this table or the contracts

What runs (see README.md beside this file): the eight services as Deployments with a Service, probes
on /healthz and /readyz, requests and limits and a HorizontalPodAutoscaler each; Kafka from the
Strimzi operator (``KafkaNodePool`` of three KRaft nodes, ``Kafka``, a ``KafkaTopic`` per domain
topic with three replicas and min.insync.replicas 2, a ``KafkaUser`` per service with the ACLs of the
local stack); PostgreSQL from CloudNativePG (a ``Cluster`` of three instances); Keycloak as a
Deployment of its official image on its own database. Every secret is a reference to a Kubernetes
Secret; ``secrets.example.yaml`` shows their keys and is never applied as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from stack import SERVICE_READS  # noqa: E402  (a script folder, not a package)

from dtks_contracts.topics import ALL_TOPICS  # noqa: E402

OUT = HERE / "manifests"
NAMESPACE = "dtks"
VERSION = "0.1.0"  # the images' tag: one release of every service together
REGISTRY = "registry.example.go.id/dtks"  # where the release's images (each service's Dockerfile) are pushed
KAFKA = "dtks-kafka"  # the Strimzi cluster; its bootstrap Service is <name>-kafka-bootstrap
POSTGRES = "dtks-pg"  # the CloudNativePG cluster; its read-write Service is <name>-rw
KEYCLOAK_VERSION = "26.4.2"  # as deploy/local/stack.py runs it

LABELS = {"app.kubernetes.io/part-of": "dtks"}


class Service:
    def __init__(
        self,
        name: str,
        port: int,
        *,
        image: str,
        kafka_login: str | None,
        cpu: tuple[str, str] = ("250m", "1"),
        memory: tuple[str, str] = ("256Mi", "768Mi"),
        replicas: tuple[int, int] = (2, 6),
        env: dict[str, str] | None = None,
        secrets: dict[str, tuple[str, str]] | None = None,
        readyz: bool = True,
    ) -> None:
        self.name, self.port, self.image, self.kafka_login = name, port, image, kafka_login
        self.cpu, self.memory, self.replicas = cpu, memory, replicas
        self.env, self.secrets, self.readyz = env or {}, secrets or {}, readyz


def url(name: str, port: int) -> str:
    return f"http://dtks-{name}.{NAMESPACE}.svc:{port}"


# Sizes are starting points measured against the benchmarks (README.md beside this file says how).
SERVICES = [
    Service(
        "civil-registry",
        8005,
        image="civil-registry",
        kafka_login=None,
        replicas=(1, 2),
        readyz=False,  # the simulator has /healthz only; a real deployment calls Dukcapil instead
    ),
    Service(
        "proposal",
        8001,
        image="proposal",
        kafka_login="proposal",
        cpu=("500m", "2"),
        memory=("512Mi", "1Gi"),
        replicas=(3, 20),
    ),
    Service(
        "verification",
        8002,
        image="verification",
        kafka_login="verification",
        cpu=("500m", "2"),
        memory=("512Mi", "1Gi"),
        replicas=(3, 12),
        env={"DTKS_CIVIL_REGISTRY_URL": url("civil-registry", 8005)},
    ),
    Service(
        "registry",
        8003,
        image="registry",
        kafka_login="registry",
        cpu=("1", "4"),
        memory=("1Gi", "1536Mi"),  # the issue's bound: under 1.5 GB at any point
        replicas=(3, 12),
        secrets={
            "DTKS_DECREE_SIGNING_KEY": ("dtks-decree-keys", "signing-key"),
            "DTKS_DECREE_PREVIOUS_SIGNING_KEY": ("dtks-decree-keys", "previous-signing-key"),
        },
    ),
    Service(
        "notification",
        8004,
        image="notification",
        kafka_login="notification",
        replicas=(2, 8),
        secrets={"DTKS_SMTP_PASSWORD": ("dtks-smtp", "password")},
        env={"DTKS_SMTP_HOST": "smtp.kemensos.go.id", "DTKS_SMTP_PORT": "587", "DTKS_SMTP_START_TLS": "true"},
    ),
    Service(
        "dci",
        8006,
        image="dci",
        kafka_login="dci",
        replicas=(2, 8),
        env={"DTKS_REGISTRY_URL": url("registry", 8003)},
        secrets={
            "DTKS_DCI_SIGNING_KEY": ("dtks-dci", "signing-key"),
            "DTKS_DCI_CLIENT_SECRET": ("dtks-dci", "client-secret"),
        },
    ),
    Service(
        "complaints",
        8007,
        image="complaints",
        kafka_login="complaint",  # its events and login are named "complaint"
        replicas=(2, 8),
    ),
    Service(
        "console",
        8090,
        image="console",
        kafka_login=None,  # pages over the services' HTTP APIs only
        replicas=(2, 10),
        env={
            "DTKS_PROPOSAL_URL": url("proposal", 8001),
            "DTKS_VERIFICATION_URL": url("verification", 8002),
            "DTKS_REGISTRY_URL": url("registry", 8003),
            "DTKS_NOTIFICATION_URL": url("notification", 8004),
            "DTKS_CONSOLE_PUBLIC_URL": "https://dtks.kemensos.go.id/",
        },
        secrets={"DTKS_CONSOLE_SESSION_SECRET": ("dtks-console", "session-secret")},
    ),
]
PORT_VARS = {
    "civil-registry": "DTKS_CIVIL_REGISTRY_PORT",
    "proposal": "DTKS_PROPOSAL_PORT",
    "verification": "DTKS_VERIFICATION_PORT",
    "registry": "DTKS_REGISTRY_PORT",
    "notification": "DTKS_NOTIFICATION_PORT",
    "dci": "DTKS_DCI_PORT",
    "complaints": "DTKS_COMPLAINTS_PORT",
    "console": "DTKS_CONSOLE_PORT",
}


def meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {**LABELS, **labels}}


def secret_env(var: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": var, "valueFrom": {"secretKeyRef": ref}}


def service_env(s: Service) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "DTKS_ENV", "value": "production"},
        {"name": PORT_VARS[s.name], "value": str(s.port)},
        {"name": "DTKS_LOG_LEVEL", "value": "info"},
        {"name": "DTKS_OIDC_ISSUER", "value": "https://sso.kemensos.go.id/realms/dtks"},
        {"name": "DTKS_OIDC_AUDIENCE", "value": "dtks"},
        {"name": "DTKS_OTEL_EXPORTER", "value": "otlp"},
    ]
    if s.name != "console":
        # The superuser login CloudNativePG keeps in <cluster>-superuser: each service creates and
        # migrates its own database (DTKS_DATABASE_NAME) on the shared cluster.
        env += [
            secret_env("PGUSER", f"{POSTGRES}-superuser", "username"),
            secret_env("PGPASSWORD", f"{POSTGRES}-superuser", "password"),
            {
                "name": "DTKS_DATABASE_URL",
                "value": f"postgresql://$(PGUSER):$(PGPASSWORD)@{POSTGRES}-rw:5432/postgres",
            },
            {"name": "DTKS_DATABASE_NAME", "value": "dtks_{service}"},
            {"name": "DTKS_KAFKA_BOOTSTRAP", "value": f"{KAFKA}-kafka-bootstrap:9093"},
            secret_env("DTKS_EVENT_KEYS", "dtks-event-keys", "event-keys"),
        ]
    if s.kafka_login:
        # Strimzi's User Operator writes each KafkaUser's password into a Secret of the same name.
        env += [
            {"name": "DTKS_KAFKA_SECURITY_PROTOCOL", "value": "SASL_SSL"},
            {"name": "DTKS_KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"},
            {"name": "DTKS_KAFKA_USERNAME", "value": s.kafka_login},
            secret_env("DTKS_KAFKA_PASSWORD", s.kafka_login, "password"),
            {"name": "DTKS_KAFKA_SSL_CAFILE", "value": "/etc/dtks/kafka-ca/ca.crt"},
        ]
    env += [{"name": k, "value": v} for k, v in s.env.items()]
    env += [secret_env(var, secret, key, optional=True) for var, (secret, key) in s.secrets.items()]
    return env


def probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(s: Service) -> dict[str, Any]:
    name = f"dtks-{s.name}"
    selector = {"app.kubernetes.io/name": name}
    container: dict[str, Any] = {
        "name": s.name,
        "image": f"{REGISTRY}/{s.image}:{VERSION}",
        "ports": [{"name": "http", "containerPort": s.port}],
        "env": service_env(s),
        "resources": {
            "requests": {"cpu": s.cpu[0], "memory": s.memory[0]},
            "limits": {"cpu": s.cpu[1], "memory": s.memory[1]},
        },
        # /healthz: the process and its background loops (503 when degraded: restart it);
        # /readyz: its database and broker answer (not ready: no traffic, no restart).
        "livenessProbe": probe("/healthz", s.port, 10, 6),
        "readinessProbe": probe("/readyz" if s.readyz else "/healthz", s.port, 5, 3),
        "startupProbe": probe("/healthz", s.port, 5, 60),
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if s.kafka_login:
        container["volumeMounts"].append(
            {"name": "kafka-ca", "mountPath": "/etc/dtks/kafka-ca", "readOnly": True}
        )
        volumes.append({"name": "kafka-ca", "secret": {"secretName": f"{KAFKA}-cluster-ca-cert"}})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, **selector),
        "spec": {
            "replicas": s.replicas[0],
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {**LABELS, **selector}},
                "spec": {
                    # SIGTERM ends the consumers' loops and the relay's batch; the rest is redelivered.
                    "terminationGracePeriodSeconds": 45,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def k8s_service(s: Service) -> dict[str, Any]:
    name = f"dtks-{s.name}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": s.port, "targetPort": "http"}],
        },
    }


def autoscaler(s: Service) -> dict[str, Any]:
    name = f"dtks-{s.name}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": s.replicas[0],
            "maxReplicas": s.replicas[1],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
            # Consumer groups rebalance on every change: scale down slowly.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}},
        },
    }


def disruption_budget(s: Service) -> dict[str, Any]:
    name = f"dtks-{s.name}"
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
    }


# ------------------------------------------------------------------ Kafka (Strimzi)


def kafka() -> list[dict[str, Any]]:
    strimzi = {"strimzi.io/cluster": KAFKA}
    pool = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaNodePool",
        "metadata": meta("dual-role", **strimzi),
        "spec": {
            # Three nodes, each KRaft controller and broker: a quorum that survives one loss, and three
            # replicas per partition. More brokers (a second pool, role broker) as the README says.
            "replicas": 3,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "2Ti",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
            "jvmOptions": {"-Xms": "4g", "-Xmx": "4g"},
        },
    }
    cluster = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "Kafka",
        "metadata": {
            **meta(KAFKA),
            "annotations": {"strimzi.io/kraft": "enabled", "strimzi.io/node-pools": "enabled"},
        },
        "spec": {
            "kafka": {
                "version": "4.1.1",
                "listeners": [
                    {
                        "name": "tls",
                        "port": 9093,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                    }
                ],
                "authorization": {"type": "simple", "superUsers": ["CN=dtks-admin"]},
                "rack": {"topologyKey": "topology.kubernetes.io/zone"},
                # As deploy/local/stack.py's cluster: three replicas, two in sync for a write, topics
                # only as the project declares them (the KafkaTopics below, or the services).
                "config": {
                    "default.replication.factor": 3,
                    "min.insync.replicas": 2,
                    "offsets.topic.replication.factor": 3,
                    "transaction.state.log.replication.factor": 3,
                    "transaction.state.log.min.isr": 2,
                    "auto.create.topics.enable": False,
                    "message.max.bytes": 64 * 1024 * 1024 + 1024,
                    "replica.fetch.max.bytes": 64 * 1024 * 1024 + 1024,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool, cluster]


def topic_resource_name(topic: str) -> str:
    return topic.replace(".", "-").replace("_", "-")


def kafka_topics() -> list[dict[str, Any]]:
    out = []
    for spec in ALL_TOPICS:
        config: dict[str, Any] = {**spec.config(), "min.insync.replicas": "2"}
        out.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": meta(topic_resource_name(spec.name), **{"strimzi.io/cluster": KAFKA}),
                "spec": {
                    "topicName": spec.name,
                    "partitions": spec.partitions,
                    "replicas": 3,
                    "config": config,
                },
            }
        )
    return out


def acl(resource: dict[str, Any], *operations: str) -> dict[str, Any]:
    return {"resource": resource, "operations": list(operations)}


def kafka_users() -> list[dict[str, Any]]:
    """One login per service with what deploy/local/stack.py's service_acls give it, nothing more."""
    out = []
    for service, reads in SERVICE_READS.items():
        own = [f"dtks.{service}.", f"dtks.dlq.{service}", f"dtks.retry.{service}"]
        prefixed = lambda name: {"type": "topic", "name": name, "patternType": "prefix"}  # noqa: E731
        acls = [acl(prefixed(name), "Write", "Create", "Read", "Describe") for name in own]
        acls += [acl(prefixed(f"dtks.{owner}.events"), "Read", "Describe") for owner in reads]
        acls.append(acl({"type": "group", "name": service, "patternType": "prefix"}, "Read", "Describe"))
        out.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaUser",
                "metadata": meta(service, **{"strimzi.io/cluster": KAFKA}),
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {"type": "simple", "acls": acls},
                },
            }
        )
    return out


# ------------------------------------------------------------------ PostgreSQL (CloudNativePG)


def postgres() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": meta(POSTGRES),
            "spec": {
                # A primary and two synchronous-capable standbys in different zones.
                "instances": 3,
                "imageName": "ghcr.io/cloudnative-pg/postgresql:15",
                "enableSuperuserAccess": True,
                "primaryUpdateStrategy": "unsupervised",
                "postgresql": {
                    "parameters": {
                        "max_connections": "600",
                        "shared_buffers": "4GB",
                        "synchronous_commit": "on",
                    },
                    "synchronous": {"method": "any", "number": 1},
                },
                "bootstrap": {"initdb": {"database": "keycloak", "owner": "keycloak"}},
                "storage": {"size": "1Ti"},
                "walStorage": {"size": "200Gi"},
                "resources": {
                    "requests": {"cpu": "4", "memory": "16Gi"},
                    "limits": {"cpu": "8", "memory": "16Gi"},
                },
                "affinity": {"topologyKey": "topology.kubernetes.io/zone"},
                "monitoring": {"enablePodMonitor": False},
            },
        }
    ]


# ------------------------------------------------------------------ Keycloak


def keycloak() -> list[dict[str, Any]]:
    name = "dtks-keycloak"
    selector = {"app.kubernetes.io/name": name}
    container = {
        "name": "keycloak",
        "image": f"quay.io/keycloak/keycloak:{KEYCLOAK_VERSION}",
        "args": [
            "start",
            "--cache=ispn",
            "--cache-stack=kubernetes",
            "--health-enabled=true",
            "--http-enabled=true",
        ],
        "env": [
            {"name": "KC_DB", "value": "postgres"},
            {"name": "KC_DB_URL", "value": f"jdbc:postgresql://{POSTGRES}-rw:5432/keycloak"},
            # The database's owner, whose login CloudNativePG keeps in <cluster>-app.
            secret_env("KC_DB_USERNAME", f"{POSTGRES}-app", "username"),
            secret_env("KC_DB_PASSWORD", f"{POSTGRES}-app", "password"),
            {"name": "KC_HOSTNAME", "value": "https://sso.kemensos.go.id"},
            {"name": "KC_PROXY_HEADERS", "value": "xforwarded"},
            {"name": "JAVA_OPTS_APPEND", "value": f"-Djgroups.dns.query={name}-headless.{NAMESPACE}.svc"},
            secret_env("KC_BOOTSTRAP_ADMIN_USERNAME", "dtks-keycloak-admin", "username"),
            secret_env("KC_BOOTSTRAP_ADMIN_PASSWORD", "dtks-keycloak-admin", "password"),
        ],
        "ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "management", "containerPort": 9000},
            {"name": "jgroups", "containerPort": 7800},
        ],
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": "management"}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "management"}, "periodSeconds": 5},
        "startupProbe": {
            "httpGet": {"path": "/health/started", "port": "management"},
            "periodSeconds": 5,
            "failureThreshold": 60,
        },
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(name, **selector),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": {**LABELS, **selector}},
                    "spec": {"containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name),
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]},
        },
        {
            # The nodes find each other through it (JGroups DNS_PING) to share sessions.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(f"{name}-headless"),
            "spec": {
                "clusterIP": "None",
                "selector": selector,
                "ports": [{"name": "jgroups", "port": 7800, "targetPort": "jgroups"}],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta(name),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    ]


def example_secrets() -> list[dict[str, Any]]:
    """The Secrets the manifests read and nothing writes for them (the operators write theirs:
    <pg>-superuser, <pg>-app, <kafka>-cluster-ca-cert, one per KafkaUser). Placeholders only."""
    keys = {
        "dtks-event-keys": {"event-keys": '{"proposal": "<base64 key>", "verification": "<...>"}'},
        "dtks-decree-keys": {"signing-key": "<PEM>", "previous-signing-key": ""},
        "dtks-smtp": {"password": "<password>"},
        "dtks-dci": {"signing-key": "<PEM>", "client-secret": "<secret>"},
        "dtks-console": {"session-secret": "<random 32 bytes, base64>"},
        "dtks-keycloak-admin": {"username": "admin", "password": "<password>"},
    }
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name), "type": "Opaque", "stringData": data}
        for name, data in keys.items()
    ]


def documents() -> dict[str, list[dict[str, Any]]]:
    """File name -> the resources it holds."""
    services = []
    for s in SERVICES:
        services += [deployment(s), k8s_service(s), autoscaler(s), disruption_budget(s)]
    return {
        "00-namespace.yaml": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": LABELS}}
        ],
        "10-kafka.yaml": kafka(),
        "11-kafka-topics.yaml": kafka_topics(),
        "12-kafka-users.yaml": kafka_users(),
        "20-postgres.yaml": postgres(),
        "30-keycloak.yaml": keycloak(),
        "40-services.yaml": services,
    }


HEADER = "# Generated by deploy/kubernetes/generate.py: edit that script, not this file.\n"


def render() -> dict[str, str]:
    out = {
        name: HEADER + yaml.safe_dump_all(docs, sort_keys=False, width=120)
        for name, docs in documents().items()
    }
    out["secrets.example.yaml"] = (
        HEADER
        + "# The Secrets to create before applying the manifests (kubectl create secret ...), with real values.\n"
        + yaml.safe_dump_all(example_secrets(), sort_keys=False, width=120)
    )
    return out


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
    print(f"wrote {len(render())} files to {OUT}")


if __name__ == "__main__":
    main()
