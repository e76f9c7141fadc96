"""Console: page weight of the main pages, first load and repeat visit; queue pages per second at 50 users.

Set-up (not timed): a private Keycloak with the realm (deploy/local/stack.py, `--components
keycloak`, as the tests' fixture starts it), and the console, verification and registry services as
their own processes (deploy/local/services.py), the console signing people in at that Keycloak.
People sign in without a browser through the console's own flow driven by httpx: GET /sign-in, the
provider's login form filled in (its cookies passed on by hand, as dtks_runtime.auth.sign_in does),
the redirect back to /signed-in, whose session cookie the requests below carry. The district queue
of 17.71.01 holds 100 items, written straight into the verification service's `proposals` table as
governance_bench writes its backlog (a hundred proposals checked against the civil registry would
only add set-up time; the queue page reads that table through GET /queues/district); the page
shows the first 20 of them (the console's page size) with the link to the next.

Figures:
- page weight, first load: bytes on the wire (response headers and bodies, gzip as the console
  serves it to a browser asking for it) of the page and every asset it names (stylesheets, scripts,
  images, url()s in the stylesheets, the service worker a script registers), for the district
  verifier's queue, the village operator's proposal form and the Ministry verifier's dashboard;
  the time to fetch them one after the other beside it;
- page weight, repeat visit: the same with the caching headers honoured, as a browser's cache does:
  an asset whose Cache-Control gives it a lifetime is not asked for again; one with a validator
  (ETag, Last-Modified) is asked conditionally (its 304 counted); the rest and the page fetched again;
- queue pages per second: DTKS_BENCH_CONSOLE_REQUESTS GET /queue (default 5,000, after 200
  unmeasured) from DTKS_BENCH_CONSOLE_USERS signed-in users at once (default 50; each its own
  console session, all of the realm's one district verifier of 17.71.01), p50/p99; each request
  also costs the console a call to the verification service with the person's token.
Target (issue 16): every main page under 150 KB first load and under 20 KB repeat; queue p99 under
300 ms at 50 users.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import os
import re
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from benchmarks import profiling
from benchmarks.cpu import postgres_cpu_seconds, process_cpu_seconds
from benchmarks.figures import Figure
from benchmarks.governance_bench import _COLUMNS, _rows, _templates
from benchmarks.http_load import Connection, get_request
from dtks_runtime.identity_testing import KeycloakAdmin, private_keycloak
from dtks_runtime.local_system import prepare
from dtks_runtime.testing import Infra

REQUESTS = int(os.environ.get("DTKS_BENCH_CONSOLE_REQUESTS", "5000"))
USERS = int(os.environ.get("DTKS_BENCH_CONSOLE_USERS", "50"))
# Console processes (sharing their sign-in sessions through the console's database).
CONSOLE_WORKERS = int(os.environ.get("DTKS_BENCH_CONSOLE_WORKERS", "2"))
WARM_UP = 200
QUEUE_ITEMS = 100
ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "deploy" / "local" / "services.py"
STACK = ROOT / "deploy" / "local" / "stack.py"
# The realm's people (deploy/keycloak/dtks-realm.json) and the page each one's main page is.
PAGES = {
    "queue (district verifier)": ("verifier.1771-01", "dev-verifier-177101", "/queue"),
    "proposal form (village operator)": ("operator.1001", "dev-operator-1001", "/proposals/new"),
    "dashboard (Ministry verifier)": ("ministry.verifier", "dev-ministry-verifier", "/dashboard"),
}
# What each page must show for its weight to be the page's, not an error's: the queue's first 20
# items (the console's page size), the dashboard's chart of the waiting items, the form.
SHOWS = {"/queue": ('class="item"', 20), "/dashboard": ("<svg", 1), "/proposals/new": ("<form", 1)}
BROWSER_ENCODINGS = "gzip, deflate, br"
_ASSET_PATTERNS = [
    re.compile(r"<link\b[^>]*\bhref=\"([^\"]+)\"", re.I),
    re.compile(r"<(?:script|img)\b[^>]*\bsrc=\"([^\"]+)\"", re.I),
    re.compile(r"url\(\s*['\"]?([^'\")]+)", re.I),  # in stylesheets (and inline styles)
    re.compile(r"serviceWorker\.register\(\s*['\"]([^'\"]+)"),  # a script's service worker
]


async def _signed_in(console: str, username: str, password: str) -> httpx.AsyncClient:
    """An httpx client holding a console session of `username`, signed in through the console's flow."""
    client = httpx.AsyncClient(base_url=console, timeout=60, headers={"Accept-Encoding": BROWSER_ENCODINGS})
    start = await client.get("/sign-in", params={"next": "/"})
    async with httpx.AsyncClient(timeout=60) as provider:
        login = await provider.get(start.headers["location"])
        login.raise_for_status()
        cookies = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', login.text)
        if form is None:
            raise RuntimeError("no login form in Keycloak's page")
        answer = await provider.post(html.unescape(form.group(1)), headers={"Cookie": cookies},
                                     data={"username": username, "password": password})  # fmt: skip
        if answer.status_code != 302:
            raise RuntimeError(f"Keycloak did not sign {username} in (answer {answer.status_code})")
    back = await client.get(answer.headers["location"])  # /signed-in: the session cookie is set
    if back.status_code != 303:
        raise RuntimeError(f"the console's /signed-in answered {back.status_code}")
    return client


def _wire_bytes(response: httpx.Response) -> int:
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n") + 2
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    return head + response.num_bytes_downloaded


def _assets(text: str, base: str) -> list[str]:
    found: list[str] = []
    for pattern in _ASSET_PATTERNS:
        for match in pattern.findall(text):
            url = urlsplit(html.unescape(match))
            if url.scheme or url.netloc or not url.path.startswith("/") or url.path in found:
                continue  # another origin (none: the console's CSP allows only its own) or seen
            found.append(url.path + (f"?{url.query}" if url.query else ""))
    return found


def _lifetime(response: httpx.Response) -> bool:
    """Whether a browser's cache would reuse it without asking (a max-age > 0 and no no-cache)."""
    control = response.headers.get("cache-control", "").lower()
    age = re.search(r"max-age=(\d+)", control)
    return bool(age and int(age.group(1)) > 0 and "no-cache" not in control and "no-store" not in control)


async def _weigh(client: httpx.AsyncClient, path: str) -> tuple[int, int, int, float]:
    """(first-load bytes, repeat-visit bytes, assets, first-load seconds) of a page and its assets."""
    started = time.perf_counter()
    page = await client.get(path)
    if page.status_code != 200:
        raise RuntimeError(f"{path} answered {page.status_code}")
    mark, count = SHOWS[path]
    if page.text.count(mark) < count:
        raise RuntimeError(f"{path} does not show what it should ({count} of {mark!r}): {page.text[:500]}")
    fetched: dict[str, httpx.Response] = {path: page}
    waiting = _assets(page.text, path)
    while waiting:
        asset = waiting.pop(0)
        if asset in fetched:
            continue
        answer = fetched[asset] = await client.get(asset)
        if answer.status_code != 200:
            raise RuntimeError(f"{asset} (named by {path}) answered {answer.status_code}")
        if "css" in answer.headers.get("content-type", "") or "javascript" in answer.headers.get(
            "content-type", ""
        ):
            waiting += [a for a in _assets(answer.text, asset) if a not in fetched]
    seconds = time.perf_counter() - started
    first = sum(_wire_bytes(r) for r in fetched.values())
    repeat = 0
    for url, earlier in fetched.items():
        if url != path and _lifetime(earlier):
            continue  # from the cache, not asked for
        validators = {}
        if "etag" in earlier.headers:
            validators["If-None-Match"] = earlier.headers["etag"]
        if "last-modified" in earlier.headers:
            validators["If-Modified-Since"] = earlier.headers["last-modified"]
        again = await client.get(url, headers=validators)
        if again.status_code not in (200, 304):
            raise RuntimeError(f"{url} answered {again.status_code} on the repeat visit")
        repeat += _wire_bytes(again)
    return first, repeat, len(fetched) - 1, seconds


async def _queue_load(
    console: str, clients: list[httpx.AsyncClient]
) -> tuple[list[float], float, dict[int, int]]:
    """The measured requests' latencies, the phase's seconds and the answers' statuses."""
    host, _, port_text = console.removeprefix("http://").partition(":")
    port = int(port_text)

    def request(client: httpx.AsyncClient) -> bytes:
        cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
        headers = {"Cookie": cookie, "Accept-Encoding": BROWSER_ENCODINGS, "Accept": "text/html"}
        return get_request(host, port, "/queue", {}, headers)

    statuses: dict[int, int] = {}

    async def phase(count: int) -> list[float]:
        remaining = iter(range(count))
        latencies: list[float] = []

        async def user(raw: bytes) -> None:
            connection = Connection(host, port)
            try:
                for _ in remaining:
                    start = time.perf_counter()
                    status = await asyncio.wait_for(connection.send(raw), 60)
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                connection.close()

        await asyncio.gather(*(user(request(c)) for c in clients))
        return latencies

    await phase(WARM_UP)
    statuses.clear()
    started = time.perf_counter()
    latencies = await phase(REQUESTS)
    return latencies, time.perf_counter() - started, statuses


async def _fill_queue(db_url: str) -> None:
    villages = ["17.71.01.1001", "17.71.01.1002", "17.71.01.1003", "17.71.01.1004"]
    now = dt.datetime.now(dt.UTC)
    entered = (now - dt.timedelta(hours=3, minutes=i) for i in range(QUEUE_ITEMS))
    ids = [str(uuid.uuid4()) for _ in range(QUEUE_ITEMS)]
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table("proposals", columns=_COLUMNS,
                                         records=_rows(ids, villages, _templates(), entered))  # fmt: skip
    finally:
        await conn.close()


async def run(infra: Infra) -> list[Figure]:
    # Entered and left in a thread: its teardown runs an event loop of its own (asyncio.run).
    provider = private_keycloak(STACK, infra.database_url)
    keycloak = await asyncio.to_thread(provider.__enter__)
    try:
        env = {"DTKS_OIDC_ISSUER": keycloak.issuer, "DTKS_CONSOLE_WORKERS": str(CONSOLE_WORKERS)}
        system = prepare(infra, SERVICES, label="conbench", extra_env=env)
        await asyncio.to_thread(system.command, "start", only=("verification", "registry", "console"))
        clients: list[httpx.AsyncClient] = []
        try:
            console = system.urls["console"]
            await KeycloakAdmin(keycloak).allow_console_at(console)
            await _fill_queue(
                infra.database_url.rpartition("/")[0] + f"/conbench{system.run_id}_verification"
            )
            figures = []
            for name, (user, password, path) in PAGES.items():
                client = await _signed_in(console, user, password)
                clients.append(client)
                first, repeat, assets, seconds = await _weigh(client, path)
                figures += [
                    Figure(f"{name}: first load", first / 1024, "KB",
                           f"{path} and {assets} assets, {seconds * 1000:.0f} ms one after the other "
                           f"(target under 150 KB)"),
                    Figure(f"{name}: repeat visit", repeat / 1024, "KB", "cache headers honoured (target under 20 KB)"),
                ]  # fmt: skip
            verifier, password, _ = PAGES["queue (district verifier)"]
            users = [await _signed_in(console, verifier, password) for _ in range(USERS)]
            clients += users
            # Where the two cores go per page: the console's processes, verification's, PostgreSQL's
            # and this process (the 50 users' client); py-spy on the services on request.
            pids = {name: system.pid(name) for name in ("console", "verification")}
            cpu0 = {name: process_cpu_seconds(pid) for name, pid in pids.items() if pid is not None}
            pg0, own0 = postgres_cpu_seconds(infra.database_url), time.process_time()
            profilers = profiling.start(pids, "queue")
            latencies, seconds, statuses = await _queue_load(console, users)
            profiling.stop(profilers)
            pages = len(latencies)
            cpu = {name: (process_cpu_seconds(pid) - cpu0[name]) / pages * 1000 for name, pid in pids.items()
                   if pid is not None}  # fmt: skip
            cpu["PostgreSQL"] = (postgres_cpu_seconds(infra.database_url) - pg0) / pages * 1000
            cpu["the users' client"] = (time.process_time() - own0) / pages * 1000
            if set(statuses) != {200}:
                raise RuntimeError(f"queue pages answered {statuses}")
            cuts = statistics.quantiles(latencies, n=100)
            load = f"load {os.getloadavg()[0]:.1f} of 2 cores"
            spent = ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
            return [
                *figures,
                Figure("queue pages", len(latencies) / seconds, "pages/s",
                       f"{len(latencies):,} GET /queue, {USERS} signed-in users at once, "
                       f"{CONSOLE_WORKERS} console processes; {load}"),
                Figure("queue page: p50 latency", cuts[49] * 1000, "ms", "round trip over HTTP"),
                Figure("queue page: p99 latency", cuts[98] * 1000, "ms", f"target: under 300 ms at 50 users; {load}"),
                Figure("queue page: CPU", sum(cpu.values()), "ms/page", spent),
            ]  # fmt: skip
        finally:
            for c in clients:
                await c.aclose()
            await asyncio.to_thread(system.command, "stop")
            await system.drop_databases_and_topics(infra)
    finally:
        await asyncio.to_thread(provider.__exit__, None, None, None)
