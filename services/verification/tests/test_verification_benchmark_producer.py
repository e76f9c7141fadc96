"""The verification benchmark's out-of-process producer, against the real broker.

A full-size benchmark run once hung for half an hour: the measurement failed before it told the
producer to send (reading /proc for the CPU figures after PostgreSQL's backend had exited), and
leaving the producer's context waited for the child to finish, while the child waited for "go"."""

from __future__ import annotations

import asyncio
import os

import pytest

from benchmarks.verification_bench import OutOfProcessProducer
from dtks_synthetic import proposals
from dtks_verification.harness import POPULATION, Service
from dtks_verification.testing import envelope, submitted

pytestmark = pytest.mark.infra


class _MeasurementFailed(Exception):
    pass


def _exists(path: str) -> bool:
    return os.path.exists(path)


async def test_a_measurement_failing_before_go_stops_the_producer_instead_of_hanging(
    service: Service,
) -> None:
    envelopes = [envelope(submitted(g.body)) for g in proposals(POPULATION, 3, seed=404)]
    producer = OutOfProcessProducer(service.kafka_bootstrap, service.settings.topic_prefix, envelopes)
    with pytest.raises(_MeasurementFailed):
        # Bounded: before the fix, leaving the context never returned.
        async with asyncio.timeout(60), producer:
            raise _MeasurementFailed
    assert producer._process is not None and producer._process.returncode is not None
    assert not _exists(producer._file.name)  # the records file is removed too


async def test_the_producer_sends_everything_after_go(service: Service) -> None:
    contents = [submitted(g.body) for g in proposals(POPULATION, 3, seed=405)]
    async with asyncio.timeout(120):
        async with OutOfProcessProducer(
            service.kafka_bootstrap, service.settings.topic_prefix, [envelope(c) for c in contents]
        ) as producer:
            await producer.go()
        for c in contents:
            await service.wait_status(c.proposal_id, "in_tier", "returned")
