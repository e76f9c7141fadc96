"""Name resolution for callbacks: resolve, check every address, and connect only to checked ones.

aiohttp connects to exactly the addresses its resolver returns, so a resolver that refuses a name
with any non-public address closes the gap between checking and connecting: a name that answered
a public address when the agency subscribed and answers 127.0.0.1 now (DNS rebinding) is refused
at this connection. A name with both kinds of address is refused whole rather than trimmed: such
an answer is no honest receiver's.

``Lookup`` is injectable so that tests can play the rebinding name server without touching the
machine's resolver.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from dtks_runtime.callback_guard import (
    CallbackAddressRefused,
    CallbackPolicy,
    CallbackRefused,
    Lookup,
    check_callback,
    checked_addresses,
    system_lookup,
)

# The checks themselves are the runtime's, shared with the DCI adapter; re-exported for this service.
__all__ = ["CallbackAddressRefused", "GuardedResolver", "Lookup", "check_callback", "system_lookup"]


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns a name's addresses only when every one is allowed.

    IP-address hosts never reach a resolver in aiohttp: the webhook channel checks those itself
    (:func:`parse_callback`) before each request."""

    def __init__(self, policy: CallbackPolicy, lookup: Lookup = system_lookup) -> None:
        self.policy, self.lookup = policy, lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await checked_addresses(host, port, self.policy, self.lookup)
        except CallbackRefused as exc:
            raise CallbackAddressRefused(exc.code, str(exc)) from exc
        return [
            ResolveResult(
                hostname=host,
                host=str(a),
                port=port,
                family=socket.AF_INET if a.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        return None
