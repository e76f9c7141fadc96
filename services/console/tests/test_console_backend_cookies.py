"""The console's one client of the services' APIs serves every signed-in person: a cookie a service
sets on one person's call must never go out with the next person's call."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from dtks_console.backend import client_session


async def test_a_cookie_set_on_one_call_is_not_sent_with_the_next() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "of-the-first-person")
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    session = client_session()
    try:
        for _ in range(2):
            async with session.get(f"http://localhost:{port}/") as answer:
                assert answer.status == 200
        # aiohttp's default session sends it back the second time: services are called by host name.
        async with aiohttp.ClientSession() as plain:
            for _ in range(2):
                async with plain.get(f"http://localhost:{port}/") as answer:
                    assert answer.status == 200
    finally:
        await session.close()
        await runner.cleanup()
    assert seen[:2] == [None, None]
    assert seen[2:] == [None, "session=of-the-first-person"]
