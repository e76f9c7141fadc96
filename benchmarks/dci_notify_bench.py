"""DCI notify: a decree's changed households sent to a subscription, from the decree to its last page.

``python -m benchmarks dci_notify``; not in the default ``make bench``. The registry and the DCI
adapter as their own processes (DCI with one process: one notify worker); one agency subscribed to
registry events of Kota Bengkulu (``location eq 17.71``, every household here) with a callback
receiver in this process; then DTKS_BENCH_DCI_NOTIFY_HOUSEHOLDS new households (default 40,000)
accepted and fixed by one decree, which the registry publishes in chunks of
DTKS_DECREE_CHUNK_RECORDS records (default 4,000: 10 pages of ids at 40,000). Measured from the
decree's answer to the notify carrying ``meta.page == meta.pages``: households notified a second,
the pages and records received, and the CPU of DCI, the registry and PostgreSQL meanwhile. Each page's
households are read from the registry (``POST /households/lookup``, 1,000 ids a call) and mapped,
signed and posted as one notify message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from pathlib import Path

import httpx

from benchmarks.cpu import postgres_cpu_seconds, process_cpu_seconds
from benchmarks.figures import Figure
from dtks_contracts.vocabulary.programs import Program
from dtks_dci.testing import (
    AGENCY,
    CallbackReceiver,
    Dci,
    new_agency_key,
    public_b64,
    register,
    subscribe_by_location,
)
from dtks_registry.testing import make_household
from dtks_runtime.local_system import prepare
from dtks_runtime.testing import Infra, wait_until

HOUSEHOLDS = int(os.environ.get("DTKS_BENCH_DCI_NOTIFY_HOUSEHOLDS", "40000"))
SERVICES = Path(__file__).resolve().parent.parent / "deploy" / "local" / "services.py"
NOTIFY = "/agency/registry/notify"


async def run(infra: Infra) -> list[Figure]:
    key = new_agency_key("bench")
    extra = {"DTKS_DCI_SENDER_KEYS": json.dumps({AGENCY: {key.key_id: public_b64(key)}}),
             "DTKS_DCI_FIELD_GRANTS": json.dumps({AGENCY: ["name", "demographics", "address", "welfare", "programs"]}),
             "DTKS_DCI_WORKER_POLL_SECONDS": "0.2", "DTKS_DCI_WORKERS": "1"}  # fmt: skip
    system = prepare(infra, SERVICES, label="dcinotify", extra_env=extra)
    await asyncio.to_thread(system.command, "start", only=("registry", "dci"))
    receiver = await CallbackReceiver().start()
    try:
        dci = Dci(system, system.urls["dci"], key, key, [])
        await _subscribe(dci, receiver)
        households = [make_household(i, programs=(Program.PKH,)) for i in range(HOUSEHOLDS)]
        now = dt.datetime.now(dt.UTC)
        await register(system, infra, households, "1/HUK/2027", "2027-01",
                       accepted_at=now - dt.timedelta(hours=2), cutoff=now - dt.timedelta(hours=1))  # fmt: skip
        pids = {name: system.pid(name) or 0 for name in ("dci", "registry")}
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        pg_before = postgres_cpu_seconds(infra.database_url)
        started = time.perf_counter()

        async def complete() -> bool:
            return _complete(receiver)

        await wait_until(complete, within=3600, what="the decree's last notify page")
        took = time.perf_counter() - started
        cpu = {name: process_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        pages = receiver.bodies(NOTIFY)
        records = sum(len(p["message"]["notify_event"]) for p in pages)
        assert records == HOUSEHOLDS, f"{records} records notified of {HOUSEHOLDS}"
        return [
            Figure(f"notify a decree of {HOUSEHOLDS:,} households", HOUSEHOLDS / took, "households/s",
                   f"{took:.1f} s from the decree's answer to its last page; {len(pages)} notify messages, "
                   f"{records:,} records; CPU DCI {cpu['dci']:.1f} s, registry {cpu['registry']:.1f} s, "
                   f"PostgreSQL {postgres_cpu_seconds(infra.database_url) - pg_before:.1f} s"),
        ]  # fmt: skip
    finally:
        await receiver.stop()
        await asyncio.to_thread(system.command, "stop")
        await system.drop_databases_and_topics(infra)


async def _subscribe(dci: Dci, receiver: CallbackReceiver) -> None:
    body = subscribe_by_location(dci, receiver.url, "17.71")
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post("/registry/subscribe", json=body, headers=dci.token())
    answer.raise_for_status()

    async def answered() -> bool:
        return bool(receiver.bodies("/agency/registry/on-subscribe"))

    await wait_until(answered, what="the subscription's on-subscribe")


def _complete(receiver: CallbackReceiver) -> bool:
    """The last page arrived (a decree in one event is one notify without pages)."""
    return any(
        p["header"]["meta"].get("page", 1) == p["header"]["meta"].get("pages", 1)
        for p in receiver.bodies(NOTIFY)
    )
