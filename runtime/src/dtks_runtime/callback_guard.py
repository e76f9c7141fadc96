"""Which callback URLs a service may call on an outsider's word: only public addresses, only https in
production; checked when the URL is given and again for every connection.

A callback (a notification webhook, a DCI partner's ``sender_uri``) is a request a service makes on
an outsider's word, from inside the network. Aimed at 127.0.0.1 or a private address it would reach
the services, the database or a cloud's metadata endpoint, and the delivery log would tell the
outsider what answered. So a callback must name a public address: checked when it is given
(:func:`check_callback`), and again for every connection (:func:`checked_addresses`, which an HTTP
client's resolver calls), because the name's answer may change between the two (DNS rebinding). A
name with both kinds of address is refused whole rather than trimmed: such an answer is no honest
receiver's.

Each service that sends callbacks has its own development-only setting that allows private receivers
(``DTKS_NOTIFICATION_ALLOW_PRIVATE_CALLBACKS``, ``DTKS_DCI_ALLOW_PRIVATE_CALLBACKS``: the tests' and
the demo's receivers run on 127.0.0.1), refused in production; cloud metadata addresses are refused
whatever it says. ``Lookup`` is injectable so that tests can play a rebinding name server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints (AWS, GCP, Azure: 169.254.169.254; AWS over IPv6: fd00:ec2::254; Alibaba:
# 100.100.100.200; Oracle: 192.0.0.192). Each is already in a non-public range below; named here so
# that no development setting ever lets a callback reach one.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# Prefixes that carry an IPv4 address inside an IPv6 one, to the IPv4 network behind a translator:
# NAT64 (RFC 6052, RFC 8215). The embedded address is judged, not the wrapper.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class CallbackRefused(ValueError):
    """A callback this service will not call; ``code`` is the problem code, the message says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class CallbackPolicy:
    require_https: bool  # in production: deliveries carry register data and a signature
    allow_private: bool  # development only: receivers on loopback or a private network (tests, demo)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if it stands for one."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    for net in _NAT64:
        if address in net:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Routable on the internet: not loopback, private, link-local, shared (CGNAT), multicast,
    reserved, unspecified or documentation, and not an IPv6 form of such an IPv4 address."""
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def check_address(address: IPAddress, policy: CallbackPolicy) -> None:
    """Raises :class:`CallbackRefused` if a callback may not connect to ``address``."""
    inner = embedded_ipv4(address)
    if address in METADATA_ADDRESSES or (inner is not None and inner in METADATA_ADDRESSES):
        raise CallbackRefused("callback_address_not_public", "The callback names a cloud metadata address.")
    if not policy.allow_private and not is_public(address):
        raise CallbackRefused(
            "callback_address_not_public",
            "The callback's host is not a public internet address (loopback, private, link-local and "
            "other internal ranges are refused); give the address your agency's receiver has on the internet.",
        )


@dataclass(frozen=True)
class CallbackTarget:
    host: str  # a name, or an IP address without brackets
    port: int
    address: IPAddress | None  # when the host is an IP address itself


def parse_callback(url: str, policy: CallbackPolicy) -> CallbackTarget:
    """The host and port of ``url``, once its scheme is allowed and, for an IP host, its address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused("callback_url_invalid", f"The callback URL cannot be read: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (policy.require_https and scheme != "https"):
        allowed = "https" if policy.require_https else "http or https"
        raise CallbackRefused("callback_scheme_not_allowed", f"The callback URL must use {allowed}.")
    host = parts.hostname
    if not host:
        raise CallbackRefused("callback_url_invalid", "The callback URL names no host.")
    try:
        address: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        address = None
    if address is not None:
        check_address(address, policy)
    return CallbackTarget(host, port or (443 if scheme == "https" else 80), address)


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


@dataclass(frozen=True)
class CallbackGuard:
    """A service's policy and name lookup together: what a sender checks a URL against when it is
    given and again just before each request. (A client that takes a resolver, as aiohttp does,
    closes the gap between the check and the connection; one that does not, as httpx, narrows it to
    the request's own name resolution.)"""

    policy: CallbackPolicy
    lookup: Lookup = system_lookup

    async def check(self, url: str) -> None:
        """Raises :class:`CallbackRefused` if ``url`` may not be called now."""
        await check_callback(url, self.policy, self.lookup)
