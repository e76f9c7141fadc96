"""An httpx client for callbacks whose every connection goes to an address the guard has just allowed.

:class:`~dtks_runtime.callback_guard.CallbackGuard` checks a callback's name when it is given and
again before each request; but httpx then resolves the name once more for the connection, and a
name server playing DNS rebinding can answer a public address to the check and 127.0.0.1 to the
connection. This client closes that gap the way aiohttp's resolver does for notification's
webhooks: its network backend resolves the name through the guard's lookup, refuses the whole
answer if any address is internal, and connects to one of the checked addresses itself. TLS still
names the callback's host (SNI and certificate checks use the name, not the address), and no
proxy from the environment is used (a proxy would resolve the name again, unchecked).

httpx (pinned) takes no network backend of its own, so the transport builds httpcore's pool with
one; the rest of the transport (request and error mapping) is httpx's.
"""

from __future__ import annotations

import ipaddress
import typing

import httpcore
import httpx

from dtks_runtime.callback_guard import (
    CallbackAddressRefused,
    CallbackGuard,
    CallbackRefused,
    check_address,
    checked_addresses,
)

DEFAULT_LIMITS = httpx.Limits()


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard allows for the host at this moment."""

    def __init__(self, guard: CallbackGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            try:
                literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
            except ValueError:
                addresses = await checked_addresses(host, port, self._guard.policy, self._guard.lookup)
            else:
                check_address(literal, self._guard.policy)
                addresses = [literal]
        except CallbackRefused as exc:
            # An OSError inside httpcore becomes httpx.ConnectError; the code says why.
            raise httpcore.ConnectError(f"{exc.code}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # checked_addresses never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("callbacks are not sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose backend is :class:`_GuardedBackend`."""

    def __init__(self, guard: CallbackGuard, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )


def guarded_client(
    guard: CallbackGuard, *, timeout: float, limits: httpx.Limits = DEFAULT_LIMITS
) -> httpx.AsyncClient:
    """The client a service sends outsiders' callbacks with; never for calls inside the network."""
    return httpx.AsyncClient(transport=GuardedTransport(guard, limits), timeout=timeout, trust_env=False)


def refusal_code(exc: httpx.HTTPError) -> str | None:
    """The guard's code if ``exc`` is a connection the guard refused, else None."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, CallbackRefused | CallbackAddressRefused):
            return cause.code
        cause = cause.__cause__ or cause.__context__
    return None
