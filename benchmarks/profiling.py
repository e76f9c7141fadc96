"""py-spy beside a benchmark's measured phase, on request: DTKS_BENCH_PYSPY (a py-spy executable) and
DTKS_BENCH_PROFILE_DIR set. Each service process (with its worker processes) is sampled during the
phase only, into collapsed stacks ``<dir>/<name>-<tag>.txt``: the set-up before it (loading a
register, opening a round) would otherwise drown the requests measured.

PostgreSQL's side of a phase, on the same request: when the server preloads pg_stat_statements
(``shared_preload_libraries``, which needs a restart, so a stack of one's own), :func:`statements`
writes the phase's statements by total time into ``<dir>/postgres-<tag>.txt``. A benchmark's
PostgreSQL CPU says how much the database did, not which statements did it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg


def start(pids: Mapping[str, int | None], tag: str) -> list[subprocess.Popen[bytes]]:
    spy, folder = os.environ.get("DTKS_BENCH_PYSPY"), os.environ.get("DTKS_BENCH_PROFILE_DIR")
    if not spy or not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    profilers = []
    for name, pid in pids.items():
        if pid is not None:
            out = f"{folder}/{name}-{tag}.txt"
            command = f"record --nonblocking --subprocesses -r 200 -p {pid} -f raw -o {out}".split()
            profilers.append(subprocess.Popen([spy, *command]))
    return profilers


def stop(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt, not on SIGTERM
        profiler.wait()


_TOP = 30  # statements listed per phase


@contextlib.asynccontextmanager
async def statements(database_url: str, tag: str) -> AsyncIterator[None]:
    """pg_stat_statements over the body (every database of the server), if asked for and loaded."""
    folder = os.environ.get("DTKS_BENCH_PROFILE_DIR")
    if not folder:
        yield
        return
    conn = await asyncpg.connect(database_url)
    try:
        loaded = await conn.fetchval(
            "SELECT 'pg_stat_statements' = ANY(string_to_array(current_setting('shared_preload_libraries'), ','))"
        )
        if loaded:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        yield
        if loaded:
            rows = await conn.fetch(
                """SELECT total_exec_time, calls, rows, shared_blks_hit, shared_blks_read,
                          shared_blks_dirtied, temp_blks_written, query
                   FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1""",
                _TOP,
            )
            lines = [
                f"{r['total_exec_time'] / 1000:9.2f} s {r['calls']:>9} calls {r['rows']:>10} rows "
                f"hit {r['shared_blks_hit']} read {r['shared_blks_read']} dirtied {r['shared_blks_dirtied']} "
                f"temp {r['temp_blks_written']}\n    {' '.join(r['query'].split())[:600]}"
                for r in rows
            ]
            out = Path(folder, f"postgres-{tag}.txt")
            out.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(out.write_text, "\n".join(lines) + "\n")
    finally:
        await conn.close()
