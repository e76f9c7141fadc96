"""The sender and the digest schedule are the runtime's supervised tasks: /healthz sees them."""

from __future__ import annotations

import pytest

from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


async def test_a_sender_that_dies_turns_health_degraded_with_the_sender_named(service) -> None:
    async with service() as svc:
        healthy = await svc.client.get("/healthz")
        assert healthy.status_code == 200, healthy.text
        report = healthy.json()
        assert report["tasks"]["delivery-sender"] == report["tasks"]["queue-digests"] == "running"
        # Both loops promised a heartbeat, and the LISTEN connection that wakes the sender is up.
        assert {"delivery-sender", "queue-digests"} <= set(report["heartbeats"])
        assert report["checks"]["delivery_listener"]["listening"] is True

        async def broken(*_: object) -> None:
            raise RuntimeError("the sender's loop broke")

        svc.app.state.sender._idle = broken  # the next idle turn of a worker fails

        async def degraded() -> bool:
            return (await svc.client.get("/healthz")).status_code == 503

        await wait_until(degraded, 10, "the dead sender in /healthz")
        report = (await svc.client.get("/healthz")).json()
        assert report["status"] == "degraded"
        assert report["stopped_tasks"] == ["delivery-sender"]
        assert report["tasks"]["delivery-sender"].startswith("failed: RuntimeError")
        assert report["tasks"]["queue-digests"] == "running"
