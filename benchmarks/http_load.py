"""The load generators' HTTP: bare keep-alive connections sending requests prepared in advance.

httpx with pooled connections spends some 3-6 ms of CPU per request in the benchmark's own process
(3.1 ms a citizens' check with 10 clients, about 6 ms a submission with a hundred). The load
generator shares the two cores with the service it measures, so with httpx it, not the service,
set the pace and most of the tail. Requests here are bytes built before the clock starts and
answers are read by Content-Length: well under 1 ms each (0.3-0.4 ms a check)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode


class Connection:
    """One simulated client's HTTP/1.1 keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        """The answer's status; its body is read (by Content-Length) and dropped."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                # Not read here: the next answer would be read from this one's body.
                raise RuntimeError(f"a streamed answer ({value.strip()!r}) to {request.split(b' ', 2)[1]!r}")
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _head(method: str, host: str, port: int, target: str, headers: Mapping[str, str]) -> list[str]:
    return [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]


def post_request(host: str, port: int, path: str, body: dict[str, Any], headers: Mapping[str, str]) -> bytes:
    """A JSON POST, as bytes ready to send."""
    data = json.dumps(body).encode()
    lines = _head(
        "POST",
        host,
        port,
        path,
        {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers},
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def get_request(
    host: str, port: int, path: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> bytes:
    """A GET with its query string, as bytes ready to send."""
    target = f"{path}?{urlencode(params)}" if params else path
    return ("\r\n".join(_head("GET", host, port, target, headers)) + "\r\n\r\n").encode()


async def timed(host: str, port: int, requests: Iterable[bytes], clients: int) -> list[float]:
    """Seconds of each of ``requests``, sent from ``clients`` connections at once, each taking the next
    request as soon as its answer is in. An answer other than 200 stops the run."""
    remaining = iter(requests)
    seconds: list[float] = []

    async def client() -> None:
        connection = Connection(host, port)
        try:
            for request in remaining:
                started = time.perf_counter()
                status = await asyncio.wait_for(connection.send(request), 60)
                if status != 200:
                    raise RuntimeError(f"{request.split(b' ', 2)[1]!r}: {status}")
                seconds.append(time.perf_counter() - started)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return seconds
