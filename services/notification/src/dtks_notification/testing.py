"""Real local receivers for tests and the benchmark (no mocks): an HTTP server for webhooks and the
SMS gateway, an SMTP server (aiosmtpd), and builders of contract events produced to real topics."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EventPayload
from dtks_contracts.household import Address, Contact, Household, Member
from dtks_contracts.vocabulary import RelationToHead, Role, Sex
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.testing import publish_events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Answer:
    """A fuller answer than a status: headers (a redirect's Location, say) and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Responder = Callable[[Received, int], Awaitable[int | Answer]]
DROP = 0  # a responder's answer meaning: close the connection without answering


async def always_ok(_: Received, __: int) -> int:
    return 200


class HttpReceiver:
    """A small HTTP/1.1 server (keep-alive, Content-Length bodies) that records every request and
    answers with the status (or :class:`Answer`) ``respond(request, index)`` returns (or closes the connection without
    answering when it returns :data:`DROP`); ``respond`` may also wait."""

    def __init__(self, respond: Responder = always_ok, *, record: bool = True) -> None:
        self.respond = respond
        self.record = record
        self.requests: list[Received] = []
        self.count = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> HttpReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Open keep-alive connections too: their handlers end at the EOF, instead of waiting
            # for a request that never comes (and Python 3.12's wait_closed waiting for them).
            for writer in list(self._connections):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, path, headers, body)
                index = self.count
                self.count += 1
                if self.record:
                    self.requests.append(request)
                answer = await self.respond(request, index)
                if answer == DROP:
                    break
                if not isinstance(answer, Answer):
                    answer = Answer(answer)
                fields = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\n{fields}Content-Length: {len(answer.body)}\r\n\r\n".encode()
                    + answer.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


@contextlib.contextmanager
def serving_in_thread(respond: Responder = always_ok) -> Iterator[HttpReceiver]:
    """An :class:`HttpReceiver` on its own event loop in a daemon thread, for callers that block: the
    system tests' fixtures run the demo or restart processes while the deliveries arrive, and the
    end-to-end tests start a fresh loop per check, so a receiver on any test's loop would stall."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="http-receiver", daemon=True)
    thread.start()
    receiver = asyncio.run_coroutine_threadsafe(HttpReceiver(respond).start(), loop).result(10)

    async def shutdown() -> None:
        await receiver.stop()
        # The connections' handlers end at the EOF stop() gave them; let them, before the loop closes.
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if handlers:
            await asyncio.wait(handlers, timeout=2)

    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def subscribed_agency(
    services: LocalSystem, secret: str, event_types: Sequence[str]
) -> Iterator[HttpReceiver]:
    """A partner agency's webhook endpoint (:func:`serving_in_thread`), subscribed to ``event_types``
    through the running notification service's API, as the agency would subscribe."""
    with serving_in_thread() as agency:
        subscription = httpx.post(
            f"{services.urls['notification']}/subscriptions",
            json={"callback_url": agency.url, "secret": secret, "event_types": list(event_types)},
            headers=services.headers(Role.AGENCY, "ID"),
            timeout=30,
        )
        assert subscription.status_code == 201, subscription.text
        yield agency


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it accepts."""

    messages: list[Message] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> SmtpSink:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


# --- events --------------------------------------------------------------------------------------

VILLAGE = "17.71.01.1001"  # Pagar Dewa, Selebar, Kota Bengkulu
OTHER_VILLAGE = "17.71.01.1002"
HEAD_NIK = "1771015203850001"
KK = "1771010101200001"


def village_operator(village: str = VILLAGE, subject: str = "op-pagar-dewa") -> Actor:
    return Actor(subject=subject, role=Role.VILLAGE_OPERATOR, region=village)


def household(
    household_id: str | None = None,
    *,
    village: str = VILLAGE,
    phone: str | None = None,
    consent: bool = True,
    programs: Sequence[str] = (),
) -> Household:
    return Household(
        kk_number=KK,
        household_id=household_id,
        address=Address(street="Jl. Pagar Dewa No. 7", rt="003", rw="001"),
        village_code=village,
        members=(
            Member(
                nik=HEAD_NIK,
                name="Siti Aminah",
                birth_date=dt.date(1985, 3, 12),
                sex=Sex.FEMALE,
                relation_to_head=RelationToHead.HEAD,
            ),
        ),
        programs=tuple(programs),
        contact=Contact(phone=phone, consent=consent) if phone else None,
    )


def envelope(payload: EventPayload, version: int = 1, actor: Actor | None = None) -> EventEnvelope:
    return EventEnvelope.new(payload, aggregate_version=version, actor=actor)


produce = publish_events  # other services' events, on their real (prefixed) topics


def _serve_forever(port: int) -> None:
    """``python -m dtks_notification.testing PORT``: a webhook receiver answering 200 to everything,
    in its own process (the benchmark's receiver must not share a core's event loop with the sender)."""

    async def main() -> None:
        receiver = await HttpReceiver(record=False).start(port)
        print(receiver.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    _serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
