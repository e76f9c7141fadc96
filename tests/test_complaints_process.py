"""The complaints service runs as its own process beside the others, with its own port and database."""

from __future__ import annotations

import httpx
import pytest
from dtks_complaints.testing import form

from dtks_runtime.local_system import LocalSystem

pytestmark = pytest.mark.infra


async def test_the_complaints_process_takes_a_public_complaint_and_answers_its_tracking_code(
    services: LocalSystem,
):
    async with httpx.AsyncClient(base_url=services.urls["complaint"], timeout=30) as client:
        assert (await client.get("/readyz")).status_code == 200
        filed = await client.post("/public/complaints", json=form())
        assert filed.status_code == 201, filed.text
        tracked = await client.get(f"/public/complaints/{filed.json()['tracking_code']}")
        assert tracked.json()["status"] == "open"
