"""Which callback URLs an agency may give: only https in production, only public addresses.

A webhook is a request this service makes on an outsider's word, from inside the network. Aimed
at 127.0.0.1 or a private address it would reach the services, the database or a cloud's metadata
endpoint, and the delivery log would tell the agency what answered. So a callback must name a
public address: checked when the agency subscribes, and again for every connection (see
:mod:`dtks_notification.adapters.guarded_resolver`), because the name's answer may change between
the two (DNS rebinding).

Pure: the caller resolves names; this module judges addresses and URLs.
"""

from __future__ import annotations

import ipaddress
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
