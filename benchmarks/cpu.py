"""CPU a benchmark charges to the processes it measures: a service (with its worker processes) and
the run's PostgreSQL server. Read before and after a measured phase; the difference is the phase's."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import psutil


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU the service has used so far, with its worker processes (DTKS_WORKERS) and
    those that have exited (a replay's, which live for one replay and are waited for)."""
    process = psutil.Process(pid)
    own = process.cpu_times()
    total = own.children_user + own.children_system
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def postgres_cpu_seconds(database_url: str) -> float:
    """CPU of the benchmark's PostgreSQL server so far (its postmaster, found by its port, and the
    backends under it; other servers on a shared machine are not counted): the database's share."""
    port = str(urlsplit(database_url).port)
    total = 0.0
    for p in psutil.process_iter(["name", "cmdline"]):
        cmdline = p.info["cmdline"] or []
        if (p.info["name"] or "").startswith("postgres") and port in cmdline and "-p" in cmdline:
            with contextlib.suppress(psutil.Error):
                # Backends that have exited are in the postmaster's children's times.
                own = p.cpu_times()
                total += own.user + own.system + own.children_user + own.children_system
                for q in p.children(recursive=True):
                    times = q.cpu_times()
                    total += times.user + times.system
    return total


def service_and_postgres(pid: int | None, database_url: str) -> tuple[float, float]:
    """CPU seconds so far of the service ``pid`` (0 if it is not running) and of PostgreSQL."""
    return (process_cpu_seconds(pid) if pid is not None else 0.0), postgres_cpu_seconds(database_url)
