"""Several client limits taken in one statement (a public form's address and NIK): each taken in
turn, the ones after a refusal left alone, as separate takes stopping at the refusal would."""

from __future__ import annotations

import asyncpg
import pytest

from dtks_runtime import client_limit
from dtks_runtime.client_limit import ClientLimit, take_in_order

pytestmark = pytest.mark.infra


async def test_limits_taken_in_order_stop_at_the_first_refusal_and_leave_the_rest_untaken(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        for step in client_limit.migrations("form_buckets"):
            await conn.execute(step)
        address = ClientLimit("form_buckets", rate_per_second=1 / 60, burst=2)
        nik = ClientLimit("form_buckets", rate_per_second=1 / 86400, burst=1)

        assert await take_in_order(conn, [(address, "client:a"), (nik, "nik:1")]) == (-1, 0.0)
        refused, wait = await take_in_order(conn, [(address, "client:a"), (nik, "nik:1")])
        assert refused == 1 and 86000 < wait <= 86400  # the NIK's allowance is spent
        # The address's second use went to that refused filing: its allowance is spent too, and the
        # NIK after it is not taken, so a new NIK keeps its one use.
        refused, wait = await take_in_order(conn, [(address, "client:a"), (nik, "nik:2")])
        assert refused == 0 and 0 < wait <= 60
        assert await conn.fetchval("SELECT count(*) FROM form_buckets WHERE client = 'nik:2'") == 0
        assert await nik.take(conn, "nik:2") == 0.0
        # The same as one take at a time.
        assert await address.take(conn, "client:a") > 0
        assert await take_in_order(conn, [(nik, "nik:3")]) == (-1, 0.0)
        with pytest.raises(ValueError):
            await take_in_order(conn, [(nik, "nik:4"), (address, "nik:4")])
    finally:
        await conn.close()
