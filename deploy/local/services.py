#!/usr/bin/env python3
"""Start, check and stop the DTKS service processes on this machine (what ``make run`` uses).

Each service runs as its own process from the workspace's virtual environment, with the
infrastructure settings that ``stack.py start`` wrote into ``<state-dir>/env``, on its documented
port (overridable by environment). Pid files and logs live under ``<state-dir>/services``.
System tests and the pipeline benchmark start it through ``dtks_runtime.local_system``.
Standard library only.

    services.py start --state-dir .dtks     # idempotent: running services are adopted, never doubled
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

from stack import pid_alive, port_open, service_login  # the script beside this one (on sys.path)

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
    # The DCI Social Registry adapter: after the registry, whose HTTP API it reads.
    "dci": ("dtks-dci", "DTKS_DCI_PORT", 8006),
    # Named as its events and Kafka login are ("complaint"); its package is services/complaints.
    "complaint": ("dtks-complaints", "DTKS_COMPLAINTS_PORT", 8007),
    # The operator console: last, since its pages call the services above.
    "console": ("dtks-console", "DTKS_CONSOLE_PORT", 8090),
}
# Settings without which a service cannot do its work: it is skipped, with the reason, when they are
# missing (the console signs people in at the identity provider that `make run` starts).
NEEDS: dict[str, tuple[str, ...]] = {"console": ("DTKS_OIDC_ISSUER",)}


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


def answer(port: int, path: str) -> tuple[int, dict[str, object]] | None:
    """The status and JSON body of GET ``path``, None if nothing answers (a 4xx/5xx is an answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return int(r.status), json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return int(error.code), json.loads(error.read() or b"{}")
        except ValueError:
            return int(error.code), {}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def healthy(port: int) -> bool:
    got = answer(port, "/healthz")
    return got is not None and got[0] == 200


def ready(port: int) -> bool:
    """Ready to take traffic: /readyz where the service has one (the simulator has only /healthz)."""
    got = answer(port, "/readyz")
    if got is not None and got[0] == 404:
        return healthy(port)
    return got is not None and got[0] == 200


def running_pid(folder: Path, name: str) -> int | None:
    """The pid of this state folder's running ``name``: its pid file names a live process started
    from the service's console script (a pid reused by an unrelated process is not ours)."""
    pid_file = folder / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    script = SERVICES[name][0].encode()
    if pid_alive(pid) and any(part.endswith(script) for part in cmdline):
        return pid
    return None


def installed(name: str) -> bool:
    return (VENV_BIN / SERVICES[name][0]).exists() and _has_main(name)


def _has_main(name: str) -> bool:
    # The folder and package follow the console script (dtks-complaints: services/complaints).
    stem = SERVICES[name][0].removeprefix("dtks-")
    package = "dtks_" + stem.replace("-", "_")
    folders = [
        ROOT / "services" / stem / "src" / package,
        ROOT / "deploy" / stem.replace("-", "_") / "src" / package,
    ]
    return any((f / "main.py").exists() for f in folders)


def _shared_ports() -> str:
    """The services whose ports coincide, as ``port: a, b``; empty when every port is its own."""
    by_port: dict[int, list[str]] = {}
    for name in SERVICES:
        by_port.setdefault(port_of(name), []).append(name)
    return "; ".join(f"{port}: {', '.join(names)}" for port, names in by_port.items() if len(names) > 1)


def start(state: Path, only: list[str]) -> None:
    base = read_env(state)
    folder = state / "services"
    folder.mkdir(parents=True, exist_ok=True)
    shared = _shared_ports()
    if shared:
        # A readiness check cannot tell which service answered on a shared port: refuse instead.
        sys.exit(f"two services are given one port: {shared}; set each service's port variable apart")
    started: list[tuple[str, subprocess.Popen[bytes] | None, int]] = []
    for name in only:
        if not installed(name):
            log(f"{name}: not built yet, skipped")
            continue
        script, var, _ = SERVICES[name]
        missing = [v for v in NEEDS.get(name, ()) if not (base.get(v) or os.environ.get(v))]
        if missing:
            log(f"{name}: {', '.join(missing)} not set, skipped")
            continue
        port = port_of(name)
        pid_file = folder / f"{name}.pid"
        pid = running_pid(folder, name)
        if pid is not None:
            # Adopted, whatever its health: a second copy could not bind the port, and its pid file
            # would hide the first from `stop`. A service waiting for its database is waited for.
            log(f"{name}: already running (pid {pid}) on 127.0.0.1:{port}")
            started.append((name, None, pid))
            continue
        if port_open(port):
            sys.exit(
                f"{name}: port {port} is taken by a process this state folder did not start "
                f"(no live pid in {pid_file}); stop that process or set {var} to another port"
            )
        env = {**os.environ, **base, var: str(port), **service_login(name, base)}
        env.setdefault("DTKS_CIVIL_REGISTRY_URL", f"http://127.0.0.1:{port_of('civil-registry')}")
        env.setdefault("DTKS_PROPOSAL_URL", f"http://127.0.0.1:{port_of('proposal')}")
        env.setdefault("DTKS_VERIFICATION_URL", f"http://127.0.0.1:{port_of('verification')}")
        env.setdefault("DTKS_REGISTRY_URL", f"http://127.0.0.1:{port_of('registry')}")
        env.setdefault("DTKS_NOTIFICATION_URL", f"http://127.0.0.1:{port_of('notification')}")
        env.setdefault("DTKS_COMPLAINTS_URL", f"http://127.0.0.1:{port_of('complaint')}")
        if env.get("DTKS_ENV") != "production":  # the demo's and the tests' webhook receivers are local
            env.setdefault("DTKS_NOTIFICATION_ALLOW_PRIVATE_CALLBACKS", "true")
            env.setdefault("DTKS_DCI_ALLOW_PRIVATE_CALLBACKS", "true")
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
        started.append((name, proc, proc.pid))
    deadline = time.monotonic() + 120
    for name, launched, pid in started:
        port = port_of(name)
        while not ready(port):
            if launched is not None and launched.poll() is not None:
                sys.exit(f"{name} exited with {launched.returncode}; see {folder / (name + '.log')}")
            if launched is None and not pid_alive(pid):
                sys.exit(f"{name} (pid {pid}) ended while starting; see {folder / (name + '.log')}")
            if time.monotonic() > deadline:
                got = answer(port, "/readyz")
                sys.exit(
                    f"{name} (pid {pid}) is not ready after 120 s ({got[1] if got else 'no answer'}); "
                    f"see {folder / (name + '.log')}"
                )
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
    base = read_env(state) if (state / "env").exists() else {}
    down = 0
    report = {}
    for name in SERVICES:
        if not installed(name):
            report[name] = "not built"
            continue
        if any(not (base.get(v) or os.environ.get(v)) for v in NEEDS.get(name, ())):
            report[name] = f"not started: needs {', '.join(NEEDS[name])}"
            continue
        port = port_of(name)
        got = answer(port, "/healthz")
        if got is None:
            report[name] = "down"
        elif got[0] == 200:
            report[name] = f"up at http://127.0.0.1:{port}"
        else:
            report[name] = f"degraded at http://127.0.0.1:{port}: {got[1].get('failing_checks', got[0])}"
        down += got is None or got[0] != 200
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
