"""Each service of a local run gets a port of its own.

A CI run once gave the verification service and the registry one port: the registry could not bind,
the verification service answered the registry's readiness check, and a test's queue query reached
the wrong service. The ports are now chosen apart, and ``services.py`` refuses ports that coincide.
"""

import os
import subprocess
import sys
from pathlib import Path

from dtks_runtime.local_system import PORT_VARS, _free_ports

SERVICES_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "local" / "services.py"


def test_a_run_s_ports_are_all_different_every_time() -> None:
    for _ in range(200):
        ports = _free_ports(len(PORT_VARS))
        assert len(set(ports)) == len(PORT_VARS), ports


def test_services_refuse_to_start_two_on_one_port(tmp_path: Path) -> None:
    (tmp_path / "env").write_text("")
    env = {
        **os.environ,
        "DTKS_VERIFICATION_PORT": "47011",
        "DTKS_REGISTRY_PORT": "47011",
    }
    ran = subprocess.run(
        [sys.executable, str(SERVICES_SCRIPT), "start", "--state-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "47011: verification, registry" in ran.stderr
    assert not (tmp_path / "services" / "civil-registry.pid").exists()  # nothing was started
