"""docker-compose.yml cannot run here (no Docker engine), so check that it says what the code expects."""

from pathlib import Path

import yaml

from dtks_runtime.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"proposal": 8001, "verification": 8002, "registry": 8003, "notification": 8004, "dci": 8006}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_infrastructure_the_local_scripts_run() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"  # the version pinned in deploy/local/pom.xml
    assert "<kafka.version>4.1.1</kafka.version>" in (ROOT / "deploy/local/pom.xml").read_text()
    assert services["postgres"]["image"] == "postgres:15"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_every_service_has_its_dockerfile_port_and_settings() -> None:
    services = compose()["services"]
    settings_fields = {f"DTKS_{name.upper()}" for name in RuntimeSettings.model_fields}
    for name, port in SERVICES.items():
        service = services[name]
        dockerfile = ROOT / service["build"]["dockerfile"]
        assert dockerfile.exists(), dockerfile
        assert f"dtks-{name}" in dockerfile.read_text()
        env = service["environment"]
        assert env[f"DTKS_{name.upper()}_PORT"] == str(port)
        assert f"{port}:{port}" in service["ports"]
        for required in ("DTKS_KAFKA_BOOTSTRAP", "DTKS_DATABASE_URL", "DTKS_JWT_SECRET"):
            assert required in env and required in settings_fields
        pyproject = (ROOT / "services" / name / "pyproject.toml").read_text()
        # The registry's command lives in a module of its own (dtks_registry.launch says why).
        entry = "launch" if name == "registry" else "main"
        assert pyproject.count(f'dtks-{name} = "dtks_{name}.{entry}:run"') == 1


def test_the_civil_registry_simulator_is_on_its_documented_port() -> None:
    service = compose()["services"]["civil-registry"]
    assert "8005:8005" in service["ports"]
    assert (ROOT / service["build"]["dockerfile"]).exists()


def test_keycloak_runs_the_version_of_the_local_stack_with_the_realm_and_the_services_trust_it() -> None:
    compose_file = compose()
    keycloak = compose_file["services"]["keycloak"]
    stack = (ROOT / "deploy/local/stack.py").read_text()
    version = keycloak["image"].rsplit(":", 1)[1]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert f'KEYCLOAK_VERSION = "{version}"' in stack
    assert "--import-realm" in keycloak["command"]
    assert (
        "./deploy/keycloak/dtks-realm.json:/opt/keycloak/data/import/dtks-realm.json:ro"
        in keycloak["volumes"]
    )
    assert (ROOT / "deploy/keycloak/dtks-realm.json").exists()
    settings_fields = {f"DTKS_{name.upper()}" for name in RuntimeSettings.model_fields}
    for name in SERVICES:
        env = compose_file["services"][name]["environment"]
        assert (
            "http://localhost:8080/realms/dtks" in env["DTKS_OIDC_ISSUER"]
            and "DTKS_OIDC_ISSUER" in settings_fields
        )
        assert "http://keycloak:8080/realms/dtks/" in env["DTKS_OIDC_JWKS_URL"]
