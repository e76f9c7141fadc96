"""Reading a region's rows: which codes lie in a region, and planning such a read for its arguments.

Every service reads pages and counts of a region (a village operator's proposals, a tier's queue, a
district's households) with one statement whatever the region, and often with optional filters
(``$n IS NULL OR ...``). Those are prepared statements (asyncpg caches them per connection), and
after five runs PostgreSQL may switch a prepared statement to a generic plan, made without knowing
its arguments. For such a statement the generic plan cannot know whether the region is the whole
country or one village, nor which filters apply, so it plans for neither: at a million households the
registry's page of a district became ``Limit > Index Scan`` on the primary key, walking the register
in id order and testing every household against the district (736 ms), where the plan for the
district's own code reads the village index (0.4 ms; benchmarks/partitioning_bench.py). The
registry's own page was slow for another reason too, fixed in its index (api.HOUSEHOLD_PAGE_SQL).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg


def region_filter(column: str, param: int) -> str:
    """SQL that keeps the codes in ``column`` inside the region passed as parameter ``param``: the
    region's own code and the codes under it; 'ID' keeps all.

    One range of the byte order, from the region's code up to it followed by '/' (the character after
    '.'): region codes are digits and dots, so what lies between is the code itself and the codes
    that continue it with a dot ('17.71' keeps '17.71.01', not '17.710'). It is what PostgreSQL makes
    of ``= code OR LIKE 'code.%'`` on a ``text_pattern_ops`` index, but as one condition, so that an
    index holding what a read needs answers it alone (an index-only scan), which the two conditions'
    bitmap scan cannot."""
    return f"(${param} = 'ID' OR ({column} ~>=~ ${param} AND {column} ~<~ (${param} || '/')))"


@contextlib.asynccontextmanager
async def planned_per_execution(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Plan each statement run on ``conn`` inside this block for its own arguments, never by a cached
    generic plan. Planning costs each read about a millisecond (0.8 ms for the registry's district
    page at 200,000 households, 1.1 ms at a million while a replay ran beside it).

    The setting is transaction-local (``SET LOCAL``), so it never outlives the read on a pooled
    connection: inside a caller's transaction it lasts until that transaction ends; outside one,
    the block is its own transaction."""
    if conn.is_in_transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
