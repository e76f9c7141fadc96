#!/usr/bin/env python3
"""Start, check and stop the DTKS service processes on this machine (what ``make run`` uses).

Each service runs as its own process from the workspace's virtual environment, with the
infrastructure settings that ``stack.py start`` wrote into ``<state-dir>/env``, on its documented
port (overridable by environment). Pid files and logs live under ``<state-dir>/services``.
System tests and the pipeline benchmark start it through ``dtks_runtime.local_system``.
Standard library only.

    services.py start --state-dir .dtks     # idempotent: running services are left alone
    services.py status --state-dir .dtks
    services.py stop --state-dir .dtks
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stack import pid_alive, service_login  # the script beside this one (its folder is on sys.path)

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

# name -> (console script, port variable, default port). Order is start order: the civil-registry
# simulator first, since verification checks against it.
SERVICES: dict[str, tuple[str, str, int]] = {
    "civil-registry": ("dtks-civil-registry", "DTKS_CIVIL_REGISTRY_PORT", 8005),
    "proposal": ("dtks-proposal", "DTKS_PROPOSAL_PORT", 8001),
    "verification": ("dtks-verification", "DTKS_VERIFICATION_PORT", 8002),
    "registry": ("dtks-registry", "DTKS_REGISTRY_PORT", 8003),
    "notification": ("dtks-notification", "DTKS_NOTIFICATION_PORT", 8004),
}


def log(msg: str) -> None:
    print(f"[services] {msg}", flush=True)


def read_env(state: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (state / "env").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = value
    return env


def port_of(name: str) -> int:
    _, var, default = SERVICES[name]
    return int(os.environ.get(var, default))


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def installed(name: str) -> bool:
    return (VENV_BIN / SERVICES[name][0]).exists() and _has_main(name)


def _has_main(name: str) -> bool:
    package = "dtks_" + name.replace("-", "_")
    folders = [
        ROOT / "services" / name / "src" / package,
        ROOT / "deploy" / name.replace("-", "_") / "src" / package,
    ]
    return any((f / "main.py").exists() for f in folders)


def start(state: Path, only: list[str]) -> None:
    base = read_env(state)
    folder = state / "services"
    folder.mkdir(parents=True, exist_ok=True)
    started: list[tuple[str, subprocess.Popen[bytes] | None]] = []
    for name in only:
        if not installed(name):
            log(f"{name}: not built yet, skipped")
            continue
        script, var, _ = SERVICES[name]
        port = port_of(name)
        pid_file = folder / f"{name}.pid"
        if pid_file.exists() and pid_alive(int(pid_file.read_text())) and healthy(port):
            log(f"{name}: already running on 127.0.0.1:{port}")
            started.append((name, None))
            continue
        env = {**os.environ, **base, var: str(port), **service_login(name, base)}
        env.setdefault("DTKS_CIVIL_REGISTRY_URL", f"http://127.0.0.1:{port_of('civil-registry')}")
        with open(folder / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [str(VENV_BIN / script)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=ROOT,
            )
        pid_file.write_text(str(proc.pid))
        started.append((name, proc))
    deadline = time.monotonic() + 120
    for name, proc in started:
        port = port_of(name)
        while not healthy(port):
            if proc is not None and proc.poll() is not None:
                sys.exit(f"{name} exited with {proc.returncode}; see {folder / (name + '.log')}")
            if time.monotonic() > deadline:
                sys.exit(f"{name} did not answer /healthz within 120 s; see {folder / (name + '.log')}")
            time.sleep(0.3)
        log(f"{name}: up at http://127.0.0.1:{port} (OpenAPI at /docs)")


def stop(state: Path) -> None:
    folder = state / "services"
    if not folder.exists():
        return
    pids: dict[str, int] = {}
    for pid_file in folder.glob("*.pid"):
        pid = int(pid_file.read_text())
        if pid_alive(pid):
            os.killpg(pid, signal.SIGTERM)  # the service's own session: nothing it spawned stays behind
            pids[pid_file.stem] = pid
        pid_file.unlink()
    deadline = time.monotonic() + 30
    for name, pid in pids.items():
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            log(f"{name}: did not stop within 30 s, killing it")
            os.killpg(pid, signal.SIGKILL)
        log(f"{name}: stopped")


def status(state: Path) -> int:
    down = 0
    report = {}
    for name in SERVICES:
        if not installed(name):
            report[name] = "not built"
            continue
        up = healthy(port_of(name))
        report[name] = f"up at http://127.0.0.1:{port_of(name)}" if up else "down"
        down += not up
    print(json.dumps(report, indent=2))
    return 1 if down else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--state-dir", default=os.environ.get("DTKS_STATE_DIR", ".dtks"))
    parser.add_argument("--only", action="append", choices=list(SERVICES), help="start only these")
    args = parser.parse_args()
    state = Path(args.state_dir).resolve()
    if args.command == "start":
        start(state, args.only or list(SERVICES))
    elif args.command == "stop":
        stop(state)
    else:
        sys.exit(status(state))


if __name__ == "__main__":
    main()
