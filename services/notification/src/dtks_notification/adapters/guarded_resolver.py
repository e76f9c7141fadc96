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

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from aiohttp.abc import AbstractResolver, ResolveResult

from dtks_notification.domain.callbacks import CallbackPolicy, CallbackRefused, check_address, parse_callback

# (host, port) -> the IP addresses the name stands for, as text.
Lookup = Callable[[str, int], Awaitable[list[str]]]
UNRESOLVABLE = "callback_host_unresolvable"
LOOKUP_TIMEOUT = 5.0  # seconds for a name at subscription; the sender's budget bounds it at delivery


async def system_lookup(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo), as aiohttp's default resolver uses it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CallbackAddressRefused(OSError):
    """Raised inside aiohttp's connector (which wraps OSErrors) when a callback's name is refused;
    ``code`` is the :class:`CallbackRefused` code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


async def checked_addresses(
    host: str, port: int, policy: CallbackPolicy, lookup: Lookup
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to, each allowed by ``policy``; raises CallbackRefused."""
    try:
        found = await asyncio.wait_for(lookup(host, port), LOOKUP_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise CallbackRefused(
            UNRESOLVABLE, f"The callback's host {host} does not resolve to an address."
        ) from exc
    if not found:
        raise CallbackRefused(UNRESOLVABLE, f"The callback's host {host} does not resolve to an address.")
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    for address in addresses:
        check_address(address, policy)
    return addresses


async def check_callback(url: str, policy: CallbackPolicy, lookup: Lookup) -> None:
    """The check at subscription: the URL's scheme and host, and every address its name has now."""
    target = parse_callback(url, policy)
    if target.address is None:
        await checked_addresses(target.host, target.port, policy, lookup)


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
