"""The HTTP client deliveries go out through: one aiohttp session per service lifetime.

The webhook channel has one :class:`aiohttp.ClientSession` (whose resolver lets it connect to
public addresses only) and the SMS channel another (its gateway is the operator's own, often
internal); each pool keeps connections alive across sender rounds, since a new TCP connection per
delivery would cost more than the delivery. Connections are bounded per host
so that one slow agency holds at most that many sockets while the others are still served.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver

CONNECTIONS_PER_HOST = 32
ERROR_TEXT = 300  # bytes of a refusal's body kept for the delivery log; the rest is read and dropped
USER_AGENT = "DTKS-Notification"


@dataclass(frozen=True)
class Response:
    status: int
    text: str  # the first ERROR_TEXT bytes of the body, decoded leniently


def delivery_session(
    *,
    timeout: float,
    connections_per_host: int = CONNECTIONS_PER_HOST,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """The session of one service process; create it inside the running loop, close it at shutdown.

    ``resolver``: for agencies' callbacks, a :class:`~dtks_notification.adapters.guarded_resolver.GuardedResolver`,
    so that the session connects only to addresses it checked."""
    connector = aiohttp.TCPConnector(
        # No overall cap: each receiver is bounded on its own, and the sender's batch bounds the total.
        limit=0,
        limit_per_host=connections_per_host,
        resolver=resolver,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # ``total`` covers waiting for a pooled connection, connecting, sending and the answer: the
        # same budget the sender gives one attempt.
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT},
        # Receivers' cookies are neither kept nor sent back: a delivery carries no session state.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST ``body``; a connection the receiver closed without answering is tried once more.

    The usual cause is a kept-alive connection the receiver closed as idle just as the request went
    out; aiohttp retries that only for idempotent methods, and counting it as a failed attempt would
    push the delivery into backoff for nothing. Sending again is safe: receivers deduplicate on the
    delivery id (see :mod:`dtks_notification.domain.signing`). Telling a reused connection from a
    new one would take aiohttp's request tracing, about a fifth more CPU per delivery, so a new
    connection closed without an answer is also tried once more.
    """
    try:
        return await _post_once(session, url, body, headers)
    except aiohttp.ServerDisconnectedError:
        return await _post_once(session, url, body, headers)


async def _post_once(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> Response:
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
        kept = b""
        # Read the whole body (keeping only its start) so the connection goes back to the pool.
        async for chunk in response.content.iter_chunked(65536):
            if len(kept) < ERROR_TEXT:
                kept += chunk[: ERROR_TEXT - len(kept)]
        return Response(response.status, kept.decode("utf-8", "replace"))
