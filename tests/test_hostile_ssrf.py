"""Hostile input: callback URLs aimed inside (SSRF), each refused by the notification service's API.

The service runs as its own process, configured as in production for callbacks (the development
setting that lets the tests' and the demo's receivers on 127.0.0.1 in is off). Every target names
something an outsider must not reach through our webhooks: the services' own ports, PostgreSQL,
private networks, cloud metadata endpoints, and the other spellings of the same addresses
(numeric, short, IPv6-mapped, NAT64, 6to4). None may be stored as a subscription, and the answer
is the same whether anything listens on the port or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra

SERVICES_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "local" / "services.py"
SECRET = "an-agency-secret-0123456789"
REFUSAL_CODES = {
    "callback_address_not_public",
    "callback_host_unresolvable",
    "callback_scheme_not_allowed",
    "invalid_request",  # not an http(s) URL at all
}


@pytest.fixture(scope="module")
def notification(infra: Infra) -> Iterator[LocalSystem]:
    system = prepare(infra, SERVICES_SCRIPT, label="ssrf")
    system.env["DTKS_NOTIFICATION_ALLOW_PRIVATE_CALLBACKS"] = "false"
    system.command("start", only=("notification",))
    try:
        yield system
    finally:
        system.command("stop")


def targets(system: LocalSystem, infra: Infra) -> list[str]:
    database = urlsplit(infra.database_url)
    kafka_port = infra.kafka_bootstrap.rsplit(":", 1)[1]
    own = system.ports["notification"]
    closed = system.ports["proposal"]  # not started here: nothing listens
    return [
        # The services, the database and the broker on this machine.
        f"http://127.0.0.1:{own}/healthz",
        f"http://127.0.0.1:{closed}/healthz",
        f"http://localhost:{own}/openapi.json",
        f"http://{database.hostname}:{database.port}/",
        f"http://127.0.0.1:{kafka_port}/",
        # Other spellings of loopback and of "this host".
        f"http://127.1:{own}/",
        f"http://2130706433:{own}/",
        f"http://0x7f000001:{own}/",
        f"http://0177.0.0.1:{own}/",
        "http://0.0.0.0/",
        "http://0/",
        f"http://[::1]:{own}/",
        "http://[::]/",
        f"http://[::ffff:127.0.0.1]:{own}/",
        f"http://[0:0:0:0:0:ffff:7f00:1]:{own}/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://127.0.0.1.nip.io/",  # a public name for loopback (refused, or unresolvable offline)
        # Private, shared, link-local, multicast and reserved ranges.
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://172.31.255.254/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.251/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        # Cloud metadata endpoints.
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://192.0.0.192/opc/v1/instance/",
        "http://metadata.google.internal/computeMetadata/v1/",
        # Not http at all.
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{own}/_",
        "ftp://127.0.0.1/",
    ]


def test_every_ssrf_target_is_refused_and_nothing_is_stored(notification: LocalSystem, infra: Infra):
    url = f"{notification.urls['notification']}/subscriptions"
    agency = notification.headers(Role.AGENCY, "ID")
    answers: dict[str, tuple[int, str]] = {}
    for target in targets(notification, infra):
        r = httpx.post(url, json={"callback_url": target, "secret": SECRET}, headers=agency, timeout=30)
        answers[target] = (r.status_code, r.json().get("code", ""))
    accepted = {t: a for t, a in answers.items() if a[0] != 422 or a[1] not in REFUSAL_CODES}
    assert accepted == {}
    # An open port and a closed one are answered alike.
    own, closed = (answers[t] for t in targets(notification, infra)[:2])
    assert own == closed == (422, "callback_address_not_public")
    assert httpx.get(url, headers=agency, timeout=30).json() == []
