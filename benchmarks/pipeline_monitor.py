"""What the pipeline benchmark watches while it runs, and the plot it draws from it.

Every second: each service's /healthz (outbox lag, and per consumer its lag and events applied so
far) and the resident memory of each service process (psutil, with any children it spawned), plus
the driver's own progress counters. Peaks are kept; the samples become the PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from dtks_runtime.local_system import EVENT_SERVICES, PORT_VARS, LocalSystem

INTERVAL = 1.0
WINDOW = 10.0  # seconds over which the plot's rates are taken


@dataclass
class Sample:
    t: float  # seconds since the pipeline's start
    outbox_lag: dict[str, int]
    consumer_lag: dict[str, int]  # summed over the service's consumers
    applied: dict[str, int]  # events applied by the service's consumers, cumulative
    rss: dict[str, int]
    progress: dict[str, int]


@dataclass
class Monitor:
    system: LocalSystem
    t0: float = field(default_factory=time.perf_counter)
    progress: dict[str, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    peak_rss: dict[str, int] = field(default_factory=dict)
    peak_lag: dict[str, int] = field(default_factory=dict)
    marks: list[tuple[float, str]] = field(default_factory=list)
    health_failures: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _processes: dict[str, psutil.Process] = field(default_factory=dict)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def mark(self, label: str) -> float:
        at = self.now()
        self.marks.append((at, label))
        return at

    def restart_clock(self) -> None:
        self.t0 = time.perf_counter()
        self.samples.clear()
        self.marks.clear()

    def _rss(self, name: str) -> int:
        process = self._processes.get(name)
        if process is None:
            pid = self.system.pid(name)
            if pid is None:
                return 0
            process = self._processes[name] = psutil.Process(pid)
        try:
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            return int(total)
        except psutil.Error:
            return 0

    async def _health(self, client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
        try:
            answer = await client.get(f"{self.system.urls[name]}/healthz", timeout=10)
            # A degraded service (503) still reports its lag and counts.
            return dict(answer.json()) if answer.status_code in (200, 503) else None
        except (httpx.HTTPError, ValueError):
            self.health_failures += 1
            return None

    async def sample(self, client: httpx.AsyncClient) -> Sample:
        at = self.now()
        healths = await asyncio.gather(*(self._health(client, n) for n in EVENT_SERVICES))
        outbox: dict[str, int] = {}
        lag: dict[str, int] = {}
        applied: dict[str, int] = {}
        for name, health in zip(EVENT_SERVICES, healths, strict=True):
            if health is None:
                continue
            outbox[name] = int(health.get("outbox_lag") or 0)
            consumers = health.get("consumers") or {}
            lag[name] = sum(int(c.get("lag") or 0) for c in consumers.values())
            applied[name] = sum(int(c.get("applied") or 0) for c in consumers.values())
            self.peak_lag[name] = max(self.peak_lag.get(name, 0), lag[name])
        rss = {name: self._rss(name) for name in PORT_VARS}
        for name, value in rss.items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), value)
        sample = Sample(at, outbox, lag, applied, rss, dict(self.progress))
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        async with httpx.AsyncClient() as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                await self.sample(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(), max(0.05, INTERVAL - (time.perf_counter() - started))
                    )

    def stop(self) -> None:
        self._stop.set()


def _rates(samples: list[Sample], value: Any, window: float = WINDOW) -> tuple[list[float], list[float]]:
    """Rate of a cumulative counter over the trailing `window` seconds, at each sample: counters move
    in steps (a batch of decisions, a chunk of an import), so a per-sample rate would be all spikes."""
    points = [(s.t, v) for s in samples if (v := value(s)) is not None]
    xs, ys = [], []
    first = 0
    for t, v in points[1:]:
        while points[first][0] < t - window:
            first += 1
        t0, v0 = points[first]
        if t > t0:
            xs.append(t)
            ys.append(max(0.0, (v - v0) / (t - t0)))
    return xs, ys


def plot(monitor: Monitor, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = monitor.samples
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(12, 11), sharex=True)
    for key, label in (("imported", "households imported"), ("decisions", "decisions (all tiers)")):
        xs, ys = _rates(samples, lambda s, k=key: s.progress.get(k))
        top.plot(xs, ys, label=f"{label}/s", linewidth=1.6)
    for name in EVENT_SERVICES:
        xs, ys = _rates(samples, lambda s, n=name: s.applied.get(n))
        middle.plot(xs, ys, label=f"{name}: events applied/s", linewidth=1.2)
    for name in EVENT_SERVICES:
        ts = [s.t for s in samples if name in s.consumer_lag]
        bottom.plot(
            ts, [s.consumer_lag[name] for s in samples if name in s.consumer_lag], label=f"{name} consumers"
        )
        outbox = [s.outbox_lag[name] for s in samples if name in s.outbox_lag]
        if any(outbox):
            bottom.plot(ts, outbox, linestyle="--", label=f"{name} outbox")
    for axis in (top, middle, bottom):
        for at, _label in monitor.marks:
            axis.axvline(at, color="grey", linewidth=0.6, linestyle=":")
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8)
    for at, label in monitor.marks:
        top.annotate(label, (at, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                     va="top", ha="right", color="grey")  # fmt: skip
    top.set_ylabel(f"driver throughput (/s, {WINDOW:.0f} s window)")
    middle.set_ylabel(f"events applied/s ({WINDOW:.0f} s window)")
    bottom.set_ylabel("lag (events)")
    bottom.set_xlabel("seconds since the first upload")
    top.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
