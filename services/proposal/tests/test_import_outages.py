"""Which failures of an import chunk are outages of the database (retried, counted against nothing)
rather than faults of the import's data (counted, and parked as failed after too many)."""

from __future__ import annotations

import asyncpg
import pytest

from dtks_proposal.importer import _is_outage


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("connection lost while resetting"),  # a restart mid-reset
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("pool is closing"),
        ConnectionRefusedError("PostgreSQL is down"),
        TimeoutError(),
    ],
)
def test_a_database_restart_is_an_outage_not_a_fault_of_the_import(error: BaseException) -> None:
    assert _is_outage(error)


def test_a_fault_of_the_data_counts_against_the_import() -> None:
    assert not _is_outage(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not _is_outage(ValueError("a row the builder did not expect"))
