"""With the registry away, a search is answered 503 with the standard's error (err.service.unavailable),
never a 500, and the adapter stays healthy enough to say so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dtks_dci.testing import (
    AGENCY,
    Dci,
    assert_http_error,
    new_agency_key,
    public_b64,
    search_envelope,
    search_item,
)
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[3]
KEY = new_agency_key("away")


@pytest.fixture(scope="module")
def lonely_dci(infra: Infra) -> Iterator[LocalSystem]:
    extra = {"DTKS_DCI_SENDER_KEYS": json.dumps({AGENCY: {KEY.key_id: public_b64(KEY)}})}
    system = prepare(infra, ROOT / "deploy" / "local" / "services.py", label="dciaway", extra_env=extra)
    system.command("start", only=("dci",))  # no registry at DTKS_REGISTRY_URL
    try:
        yield system
    finally:
        system.command("stop")


async def test_a_search_while_the_registry_is_away_is_service_unavailable(lonely_dci: LocalSystem):
    dci = Dci(lonely_dci, lonely_dci.urls["dci"], KEY, KEY, [])
    body = search_envelope([search_item("idtype-value", {"type": "NIK", "value": "1771014101900001"})],
                           sender_id=AGENCY, key=KEY)  # fmt: skip
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post("/registry/sync/search", json=body, headers=dci.token())
        assert answer.status_code == 503, answer.text
        assert_http_error(answer.json())
        assert answer.json()["errors"][0]["code"] == "err.service.unavailable"
        health = await client.get("/healthz")
    assert health.json()["status"] == "ok", health.text
