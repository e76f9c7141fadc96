"""Loading a JSON Lines file of people into the simulator, over HTTP or straight into its database.

The HTTP path uses the standard library's urllib, so the deployed simulator needs no HTTP client
package; tests pass their own httpx client to `post_people`.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from dtks_civil_registry.adapters import people_store
from dtks_civil_registry.domain.people import PersonRecord
from dtks_civil_registry.settings import CivilRegistrySettings


@dataclass(frozen=True)
class LoadResult:
    loaded: int
    changed: int
    seconds: float


def batches(path: str | Path, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                batch.append(json.loads(line))
                if len(batch) >= size:
                    yield batch
                    batch = []
    if batch:
        yield batch


async def post_people(client: httpx.AsyncClient, people: list[dict[str, Any]]) -> tuple[int, int]:
    """POST one batch; raises with the problem document's detail if the simulator refuses it."""
    response = await client.post("/people", json={"people": people}, timeout=300)
    if response.status_code != 200:
        raise RuntimeError(
            f"the civil registry refused a batch ({response.status_code}): {response.text[:500]}"
        )
    body = response.json()
    return int(body["loaded"]), int(body["changed"])


def post_batch(base_url: str, people: list[dict[str, Any]]) -> tuple[int, int]:
    """POST one batch with urllib; raises with the problem document if the simulator refuses it."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/people",
        data=json.dumps({"people": people}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as refused:
        detail = refused.read()[:500].decode(errors="replace")
        raise RuntimeError(f"the civil registry refused a batch ({refused.code}): {detail}") from None
    return int(body["loaded"]), int(body["changed"])


async def load_file_http(path: str | Path, base_url: str, *, batch: int = 20_000) -> LoadResult:
    started = time.perf_counter()
    loaded = changed = 0
    for people in batches(path, batch):
        n, c = await asyncio.to_thread(post_batch, base_url, people)
        loaded, changed = loaded + n, changed + c
    return LoadResult(loaded, changed, time.perf_counter() - started)


async def load_records_direct(
    settings: CivilRegistrySettings,
    records: AsyncIterator[list[dict[str, Any]]] | Iterator[list[dict[str, Any]]],
) -> LoadResult:
    from dtks_civil_registry.main import open_database

    started = time.perf_counter()
    loaded = changed = 0
    pool = await open_database(settings)
    try:
        async with pool.acquire() as conn:
            async for people in _aiter(records):
                n, c = await people_store.load(conn, [PersonRecord.model_validate(p) for p in people])
                loaded, changed = loaded + n, changed + c
    finally:
        await pool.close()
    return LoadResult(loaded, changed, time.perf_counter() - started)


async def load_file_direct(
    path: str | Path, settings: CivilRegistrySettings, *, batch: int = 20_000
) -> LoadResult:
    return await load_records_direct(settings, batches(path, batch))


async def _aiter(
    items: AsyncIterator[list[dict[str, Any]]] | Iterator[list[dict[str, Any]]],
) -> AsyncIterator[list[dict[str, Any]]]:
    if isinstance(items, Iterator):
        for item in items:
            yield item
    else:
        async for item in items:
            yield item
