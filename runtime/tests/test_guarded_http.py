"""The callback client connects only to addresses the guard has just allowed, so a name server that
answers a public address to the check and an internal one to the connection (DNS rebinding) reaches
nothing inside. The receiver is a real socket on 127.0.0.1; the name server is the guard's lookup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from dtks_runtime.callback_guard import CallbackGuard, CallbackPolicy
from dtks_runtime.guarded_http import guarded_client, refusal_code

PRODUCTION = CallbackPolicy(require_https=False, allow_private=False)
DEVELOPMENT = CallbackPolicy(require_https=False, allow_private=True)
PUBLIC = "93.184.216.34"


@dataclass
class Receiver:
    port: int
    hosts: list[str] = field(default_factory=list)  # the Host header of every request it answered


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver(0)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        got.hosts += [
            line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:")
        ]
        length = next(
            (int(h.split(":")[1]) for h in head.split("\r\n") if h.lower().startswith("content-length:")), 0
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    got.port = server.sockets[0].getsockname()[1]
    async with server:
        yield got


def rebinding(first: str, then: str) -> tuple[list[str], object]:
    """A lookup that answers ``first`` once, then ``then`` (what a rebinding name server does)."""
    asked: list[str] = []

    async def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        return [first] if len(asked) == 1 else [then]

    return asked, lookup


async def test_a_name_rebound_to_loopback_after_the_check_is_not_connected_to(receiver: Receiver):
    url = f"http://localhost:{receiver.port}/on-search"
    asked, lookup = rebinding(PUBLIC, "127.0.0.1")
    guard = CallbackGuard(PRODUCTION, lookup)  # type: ignore[arg-type]
    await guard.check(url)  # the check sees the public address
    async with guarded_client(guard, timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.post(url, json={"x": 1})
    assert refusal_code(refused.value) == "callback_address_not_public"
    assert asked == ["localhost", "localhost"]  # the connection asked the guard's lookup again
    assert receiver.hosts == []

    # The gap this closes: a plain client resolves the name again by itself and reaches the inside.
    async with httpx.AsyncClient(timeout=5) as plain:
        assert (await plain.post(url, json={"x": 1})).status_code == 204
    assert receiver.hosts == [f"localhost:{receiver.port}"]


async def test_an_internal_address_written_as_an_ip_is_refused_at_the_connection(receiver: Receiver):
    guard = CallbackGuard(PRODUCTION)
    async with guarded_client(guard, timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.post(f"http://127.0.0.1:{receiver.port}/on-search", json={})
    assert refusal_code(refused.value) == "callback_address_not_public"
    assert receiver.hosts == []


async def test_a_name_answering_a_public_and_an_internal_address_is_refused_whole(receiver: Receiver):
    async def lookup(host: str, port: int) -> list[str]:
        return [PUBLIC, "127.0.0.1"]

    async with guarded_client(CallbackGuard(PRODUCTION, lookup), timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.post(f"http://agency.example.org:{receiver.port}/", json={})
    assert refusal_code(refused.value) == "callback_address_not_public"
    assert receiver.hosts == []


async def test_an_allowed_name_is_connected_to_at_its_checked_address_and_keeps_its_host(receiver: Receiver):
    async def lookup(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "agency.example.org" else []

    async with guarded_client(CallbackGuard(DEVELOPMENT, lookup), timeout=5) as client:
        answer = await client.post(f"http://agency.example.org:{receiver.port}/on-search", json={"x": 1})
    assert answer.status_code == 204
    assert receiver.hosts == [f"agency.example.org:{receiver.port}"]  # the name, not the address


async def test_a_name_that_does_not_resolve_says_so(receiver: Receiver):
    async def lookup(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    async with guarded_client(CallbackGuard(DEVELOPMENT, lookup), timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.post(f"http://nowhere.example.org:{receiver.port}/", json={})
    assert refusal_code(refused.value) == "callback_host_unresolvable"
