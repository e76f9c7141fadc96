"""The Kubernetes deployment (deploy/kubernetes) is what its generator writes, says what the code
expects, and is valid against Kubernetes' schemas and the operators' CRDs, checked offline.

The first run fetches the validators into ~/.cache/dtks (deploy/kubernetes/validate.py install,
which `make install` runs); later runs need no network.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from dtks_contracts.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"

pytestmark = pytest.mark.timeout(600)  # a first run builds kubeconform and fetches the schemas


def script(name: str) -> ModuleType:
    """A script of deploy/kubernetes (a folder of scripts, not a package), loaded by its path."""
    module_name = f"dtks_kubernetes_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, KUBERNETES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((KUBERNETES / "manifests").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def test_the_committed_manifests_are_what_the_generator_writes() -> None:
    rendered = script("generate").render()
    on_disk = {p.name: p.read_text() for p in (KUBERNETES / "manifests").glob("*.yaml")}
    assert on_disk == rendered, "run .venv/bin/python deploy/kubernetes/generate.py and commit the result"


def test_every_service_has_probes_resources_and_an_autoscaler() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    services = {
        "dtks-civil-registry",
        "dtks-proposal",
        "dtks-verification",
        "dtks-registry",
        "dtks-notification",
        "dtks-dci",
        "dtks-complaints",
        "dtks-console",
        "dtks-keycloak",
    }
    assert set(deployments) == services
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler")}
    assert scaled == services
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        if name in ("dtks-keycloak", "dtks-civil-registry"):
            continue
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        # No secret is written into a manifest: every credential comes from a Kubernetes Secret.
        for var in container["env"]:
            if any(word in var["name"] for word in ("PASSWORD", "SECRET", "KEY")):
                assert "secretKeyRef" in var.get("valueFrom", {}), (name, var)


def test_the_topics_are_the_contracts_with_three_replicas_two_in_sync() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind("KafkaTopic")}
    assert set(topics) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        declared = topics[spec.name]
        assert declared["partitions"] == spec.partitions
        assert declared["replicas"] == 3
        assert declared["config"]["min.insync.replicas"] == "2"
        assert declared["config"]["retention.ms"] == str(spec.retention_ms)
    (kafka,) = of_kind("Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    (postgres,) = of_kind("Cluster")
    assert postgres["apiVersion"] == "postgresql.cnpg.io/v1" and postgres["spec"]["instances"] == 3


def test_the_manifests_are_valid_against_kubernetes_and_the_operators_schemas() -> None:
    failures = script("validate").validate()
    assert failures == []


def _break(kind: str, damage: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], None]:
    def apply(docs: list[dict[str, Any]]) -> None:
        damage(next(d for d in docs if d["kind"] == kind))

    return apply


BREAKAGES = {
    "a field Kubernetes does not know in a container": _break(
        "Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbes={})
    ),
    "a replica count as text in an autoscaler": _break(
        "HorizontalPodAutoscaler", lambda d: d["spec"].update(maxReplicas="six")
    ),
    "a field CloudNativePG does not know": _break("Cluster", lambda d: d["spec"].update(instancez=3)),
    "partitions as text in a KafkaTopic": _break(
        "KafkaTopic", lambda d: d["spec"].update(partitions="twelve")
    ),
    "a listener type Strimzi does not have": _break(
        "Kafka", lambda d: d["spec"]["kafka"]["listeners"][0].update(type="public")
    ),
}


@pytest.mark.parametrize("what", list(BREAKAGES))
def test_a_broken_manifest_is_refused(what: str, tmp_path: Path) -> None:
    docs = copy.deepcopy(manifests())
    BREAKAGES[what](docs)
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    failures = script("validate").validate(tmp_path)
    assert len(failures) == 1, failures
