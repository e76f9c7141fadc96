"""The DCI compliance kit (OpenSPP/spdci-compliance, vendored in services/dci/compliance-kit with its
licence) run against this service, offline, as the Social Registry profile (``@profile=sr-registry``).

The kit cannot sign (it sends the placeholder ``unsigned-stub``), so this run starts the adapter with
signature checks off (``DTKS_DCI_VERIFY_SIGNATURES=false``, refused in production) and leaves out the
kit's optional signature scenarios; signatures are tested in this suite's own tests instead. The
kit's npm packages are pinned by its package-lock.json and installed by ``make install``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_dci.testing import AGENCY, Dci
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[3]
KIT = ROOT / "services" / "dci" / "compliance-kit"
KIT_SENDER = "test-client"  # the kit's default sender_id, registered here as an agency of 17.71


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def kit_system(infra: Infra) -> Iterator[LocalSystem]:
    extra = {
        "DTKS_DCI_VERIFY_SIGNATURES": "false",
        "DTKS_DCI_FIELD_GRANTS": json.dumps({KIT_SENDER: ["name"]}),
    }
    system = prepare(infra, ROOT / "deploy" / "local" / "services.py", label="dcikit", extra_env=extra)
    system.command("start", only=("registry", "dci"))
    try:
        yield system
    finally:
        system.command("stop")


def run_kit(system: LocalSystem, tags: str, sender: str = KIT_SENDER, **extra: str) -> tuple[int, str]:
    token = TokenService(LOCAL_JWT_SECRET).issue(
        subject=sender, role=Role.AGENCY, region="17.71", name=f"service-account-{sender}"
    )
    callback_port = _free_port()
    env = {
        **os.environ,
        "DOMAIN": "social",
        "API_BASE_URL": system.urls["dci"] + "/",
        "DCI_AUTH_TOKEN": token,
        "AUTH_TOKEN": token,
        "DCI_SENDER_ID": sender,
        "SENDER_ID": sender,
        "DCI_RECEIVER_ID": "dtks.kemensos.go.id",
        "RECEIVER_ID": "dtks.kemensos.go.id",
        "CALLBACK_SERVER_ENABLED": "true",
        "CALLBACK_SERVER_HOST": "127.0.0.1",
        "CALLBACK_HOST": "127.0.0.1",
        "CALLBACK_SERVER_PORT": str(callback_port),
        "CALLBACK_SERVER_BASE_URL": f"http://127.0.0.1:{callback_port}",
        "CALLBACK_WAIT_MS": "15000",
        **extra,
    }
    done = subprocess.run(
        ["node", "node_modules/.bin/cucumber-js", "--tags", tags, "--format", "summary"],
        cwd=KIT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


needs_kit = pytest.mark.skipif(
    not shutil.which("node") or not (KIT / "node_modules").exists(), reason="make install sets up the kit"
)


@needs_kit
def test_the_compliance_kits_social_registry_profile_passes(kit_system: LocalSystem):
    code, output = run_kit(kit_system, "@profile=sr-registry and not @signature and not @tier=extra")
    print("core and security:", *re.findall(r"^\d+ (?:scenarios?|steps?) \(.*\)$", output, re.MULTILINE))
    assert code == 0, output[-6000:]


@needs_kit
def test_the_compliance_kits_signature_scenarios_pass_against_the_verifying_service(dci: Dci):
    """The same kit with signature validation on, against the adapter as deployed (signatures checked):
    an invalid signature is refused."""
    code, output = run_kit(dci.system, "@profile=sr-registry and @signature", sender=AGENCY,
                           DCI_SIGNATURE_VALIDATION_ENABLED="true")  # fmt: skip
    found = re.findall(r"^\d+ (?:scenarios?|steps?) \(.*\)$", output, re.MULTILINE)
    print("signature:", *found)
    assert code == 0 and found and "passed" in found[0], output[-6000:]
