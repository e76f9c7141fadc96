"""Callback URLs reach public receivers only: checked at subscription and at every connection (so a
name that rebinds to 127.0.0.1 is refused), redirects not followed, and the delivery log says the
status class only. The names here resolve through a lookup the test controls, as a name server would.
"""

from __future__ import annotations

import ipaddress

import pytest

from dtks_contracts.events import HouseholdRegistered
from dtks_contracts.vocabulary import Role
from dtks_notification.domain.callbacks import CallbackPolicy, CallbackRefused, is_public, parse_callback
from dtks_notification.main import build_app
from dtks_notification.settings import NotificationSettings
from dtks_notification.testing import (
    DROP,
    Answer,
    HttpReceiver,
    Received,
    envelope,
    free_port,
    household,
    produce,
)
from dtks_runtime.testing import wait_until

SECRET = "bpjs-shared-secret-0123456789"
PUBLIC = "93.184.215.14"  # an address on the internet; nothing in these tests connects to it
DEVELOPMENT = CallbackPolicy(require_https=False, allow_private=False)
PRODUCTION = CallbackPolicy(require_https=True, allow_private=False)


def _registered() -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id="h-1",
        decree_number="D-1",
        proposal_id="p-h-1",
        household=household("h-1", programs=["PBI_JK"]),
    )


def _lookup(*answers: list[str]):
    """A name server whose successive answers are ``answers`` (the last one repeats); records calls."""
    calls: list[tuple[str, int]] = []

    async def lookup(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return answers[min(len(calls), len(answers)) - 1]

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


async def _subscribe(svc, headers, url: str):
    return await svc.client.post(
        "/subscriptions",
        headers=headers,
        json={"callback_url": url, "secret": SECRET, "event_types": ["registry.household_registered"]},
    )


async def _settled(svc, headers, sid: str, status: str) -> dict:
    async def reached() -> bool:
        r = await svc.client.get(f"/subscriptions/{sid}/deliveries", headers=headers)
        return bool(r.json()) and r.json()[0]["status"] == status

    await wait_until(reached, what=f"the delivery to be {status}")
    [delivery] = (await svc.client.get(f"/subscriptions/{sid}/deliveries", headers=headers)).json()
    return delivery


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::",
        "fe80::1", "fd00:ec2::254", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
        "64:ff9b::a00:1", "2002:7f00:1::", "2001:db8::1",
    ],
)  # fmt: skip
def test_internal_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


def test_public_addresses_are_public_and_production_takes_https_only():
    assert is_public(ipaddress.ip_address(PUBLIC)) and is_public(ipaddress.ip_address("2606:4700::1111"))
    assert parse_callback(f"https://{PUBLIC}/hook", PRODUCTION).port == 443
    with pytest.raises(CallbackRefused) as refused:
        parse_callback(f"http://{PUBLIC}/hook", PRODUCTION)
    assert refused.value.code == "callback_scheme_not_allowed"
    assert parse_callback("http://agency.example:8080/hook", DEVELOPMENT).port == 8080
    # The development setting lets loopback in, never a cloud's metadata endpoint.
    loopback_ok = CallbackPolicy(require_https=False, allow_private=True)
    assert parse_callback("http://127.0.0.1:9/hook", loopback_ok).address is not None
    for metadata in (
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:a9fe:a9fe]/",
    ):
        with pytest.raises(CallbackRefused):
            parse_callback(metadata, loopback_ok)


def test_the_development_setting_is_refused_in_production():
    settings = NotificationSettings(
        env="production",
        oidc_issuer="https://id.example.go.id/realms/dtks",
        kafka_security_protocol="SASL_SSL",
        kafka_username="notification",
        kafka_password="p",
        event_keys={"notification": "k"},
        notification_allow_private_callbacks=True,
    )
    with pytest.raises(RuntimeError, match="ALLOW_PRIVATE_CALLBACKS"):
        build_app(settings)


@pytest.mark.infra
async def test_subscriptions_to_internal_addresses_are_refused_naming_the_field(service):
    lookup = _lookup(["127.0.0.1"])
    async with service(lookup, notification_allow_private_callbacks=False) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        for url in (
            "http://127.0.0.1:8003/healthz",
            "http://[::ffff:127.0.0.1]:8003/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/hook",
            "http://internal.agency.test/hook",  # a name the lookup answers with 127.0.0.1
        ):
            refused = await _subscribe(svc, bpjs, url)
            assert refused.status_code == 422, (url, refused.text)
            problem = refused.json()
            assert problem["code"] == "callback_address_not_public", url
            assert [e["field"] for e in problem["errors"]] == ["callback_url"]
        assert lookup.calls == [("internal.agency.test", 80)]
        assert (await svc.client.get("/subscriptions", headers=bpjs)).json() == []


@pytest.mark.infra
async def test_a_name_that_rebinds_to_loopback_after_subscribing_is_refused_at_connection(
    service, receivers, kafka_bootstrap, topic_prefix
):
    receiver = await HttpReceiver().start()
    receivers.append(receiver)
    # Public when the agency subscribes, the machine itself when the sender connects.
    lookup = _lookup([PUBLIC], ["127.0.0.1"])
    async with service(
        lookup, notification_allow_private_callbacks=False, notification_max_attempts=2
    ) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        created = await _subscribe(svc, bpjs, f"http://rebind.agency.test:{receiver.port}/hook")
        assert created.status_code == 201, created.text
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        delivery = await _settled(svc, bpjs, created.json()["subscription_id"], "dead")
        assert [a["error"] for a in delivery["log"]] == ["callback address refused"] * 2
        assert receiver.requests == []
        assert len(lookup.calls) >= 2  # resolved again for the connection, not taken from the subscription


@pytest.mark.infra
async def test_the_sender_connects_to_the_address_it_checked(
    service, receivers, kafka_bootstrap, topic_prefix
):
    # With loopback allowed (development), a name is delivered to the address the lookup gave: the
    # connection goes through the checked answer, not a second resolution of its own.
    receiver = await HttpReceiver().start()
    receivers.append(receiver)
    lookup = _lookup(["127.0.0.1"])
    async with service(lookup) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        created = await _subscribe(svc, bpjs, f"http://receiver.agency.test:{receiver.port}/hook")
        assert created.status_code == 201, created.text
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        await _settled(svc, bpjs, created.json()["subscription_id"], "delivered")
        assert len(receiver.requests) == 1
        assert receiver.requests[0].headers["host"] == f"receiver.agency.test:{receiver.port}"


@pytest.mark.infra
async def test_redirects_are_not_followed_and_the_log_keeps_only_the_status_class(
    service, receivers, kafka_bootstrap, topic_prefix
):
    inside = await HttpReceiver().start()
    receivers.append(inside)

    async def redirect_then_leak(_: Received, index: int) -> Answer:
        if index == 0:
            return Answer(302, {"Location": inside.url})
        return Answer(500, {"Content-Type": "text/plain"}, b"postgres password=hunter2 at 10.0.0.7")

    outside = await HttpReceiver(redirect_then_leak).start()
    receivers.append(outside)
    async with service(notification_max_attempts=2) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        created = await _subscribe(svc, bpjs, outside.url)
        assert created.status_code == 201, created.text
        sid = created.json()["subscription_id"]
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        delivery = await _settled(svc, bpjs, sid, "dead")
        assert [a["error"] for a in delivery["log"]] == ["3xx", "5xx"]
        assert delivery["last_error"] == "5xx"
        assert inside.requests == [] and len(outside.requests) == 2
        async with svc.pool.acquire() as conn:
            errors = await conn.fetch(
                """SELECT envelope->'payload'->>'error' AS e FROM events
                   WHERE event_type = 'notification.failed' ORDER BY position"""
            )
        assert [r["e"] for r in errors] == ["3xx", "5xx"]


@pytest.mark.infra
async def test_a_closed_port_and_a_port_that_hangs_up_look_the_same_in_the_log(
    service, receivers, kafka_bootstrap, topic_prefix
):
    async def hang_up(_: Received, __: int) -> int:
        return DROP

    open_port = await HttpReceiver(hang_up).start()
    receivers.append(open_port)
    closed = f"http://127.0.0.1:{free_port()}/hook"
    async with service(notification_max_attempts=1) as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan")
        sids = []
        for url in (open_port.url, closed):
            created = await _subscribe(svc, bpjs, url)
            assert created.status_code == 201, created.text
            sids.append(created.json()["subscription_id"])
        await produce(kafka_bootstrap, topic_prefix, [envelope(_registered())])
        logs = [(await _settled(svc, bpjs, sid, "dead"))["log"] for sid in sids]
        assert [[a["error"] for a in log] for log in logs] == [["connection failed"]] * 2
