"""Wiring: settings, runtime, consumer, sender, digest schedule, routes. The only module that knows them all."""

from __future__ import annotations

import aiohttp
from fastapi import FastAPI

from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_notification.adapters.channels import Channel, EmailChannel, SmsChannel, WebhookChannel
from dtks_notification.adapters.guarded_resolver import GuardedResolver, Lookup, system_lookup
from dtks_notification.adapters.http_client import delivery_session
from dtks_notification.adapters.records import ChannelsOn
from dtks_notification.adapters.schema import MIGRATIONS
from dtks_notification.api import router
from dtks_notification.deps import NotificationDeps
from dtks_notification.digests import DigestScheduler
from dtks_notification.domain.retry import RetryPolicy
from dtks_notification.handlers import RuleHandler
from dtks_notification.sender import Sender
from dtks_notification.settings import NotificationSettings
from dtks_runtime import decree_assembly
from dtks_runtime.service import ServiceRuntime, create_app, serve

CONSUMER = "notification-rules"
SENDER_TASK = "delivery-sender"
DIGESTS_TASK = "queue-digests"
DESCRIPTION = """Tells every actor what needs them: village operators when a proposal comes back
(with the reasons) or is determined, each tier what waits in its queue (a digest per tier and
region), households that consented when they enter or leave the register, the regency when its
batch is ratified, and partner agencies through signed webhooks. Nothing decided is dropped:
notifications are recorded with the consumed event, sent by a relay, retried, and parked as dead
letters that can be replayed."""


def build_channels(
    settings: NotificationSettings, webhooks: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> dict[NotificationChannel, Channel]:
    """The configured channels; the webhook channel goes out through ``webhooks`` (guarded: public
    addresses only), SMS through ``http``; the caller closes both."""
    timeout = settings.notification_send_timeout_seconds
    channels: dict[NotificationChannel, Channel] = {
        NotificationChannel.WEBHOOK: WebhookChannel(webhooks, settings.callback_policy),
    }
    if settings.smtp_host:
        channels[NotificationChannel.EMAIL] = EmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            timeout=timeout,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_start_tls,
        )
    if settings.sms_gateway_url:
        channels[NotificationChannel.SMS] = SmsChannel(settings.sms_gateway_url, http)
    return channels


def build_app(settings: NotificationSettings | None = None, *, lookup: Lookup = system_lookup) -> FastAPI:
    """``lookup`` resolves callback hosts, at subscription and at every connection (tests pass
    their own to play a name server)."""
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime(service="notification", settings=settings)
    runtime.add_migrations("notification", MIGRATIONS)
    runtime.add_migrations(decree_assembly.COMPONENT, decree_assembly.MIGRATIONS)
    channels_on = ChannelsOn(email=bool(settings.smtp_host), sms=bool(settings.sms_gateway_url))
    # A decree published in chunks reaches the rules (and agencies subscribed to decrees) a chunk
    # at a time, then its manifest once the chunks kept make it whole, or the manifest is
    # dead-lettered: nobody is told of half a decree, and nothing here holds a decree whole.
    runtime.add_consumer(
        CONSUMER,
        [PROPOSAL_EVENTS.name, VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name],
        decree_assembly.checked_decrees(RuleHandler(channels_on, settings.notification_max_attempts)),
    )

    async def started(runtime: ServiceRuntime) -> None:
        app.state.deps = NotificationDeps(runtime.started(), settings, lookup)
        await start_workers(runtime, app, settings, lookup, channels_on)

    app = create_app(runtime, title="DTKS notification service", description=DESCRIPTION, on_started=started)
    app.include_router(router)
    return app


def open_channels(
    runtime: ServiceRuntime, settings: NotificationSettings, lookup: Lookup
) -> dict[NotificationChannel, Channel]:
    """The channels and the HTTP sessions under them, each closed when the service stops (after the
    loops that send through them ended)."""
    timeout = settings.notification_send_timeout_seconds
    http = delivery_session(timeout=timeout)
    runtime.on_stop(http.close)
    webhooks = delivery_session(timeout=timeout, resolver=GuardedResolver(settings.callback_policy, lookup))
    runtime.on_stop(webhooks.close)
    channels = build_channels(settings, webhooks, http)

    async def close_channels() -> None:
        for channel in channels.values():
            await channel.close()

    runtime.on_stop(close_channels)
    return channels


async def start_workers(
    runtime: ServiceRuntime,
    app: FastAPI,
    settings: NotificationSettings,
    lookup: Lookup,
    channels_on: ChannelsOn,
) -> None:
    """The sender and the digest schedule, as the runtime's supervised tasks: a loop that dies or stops
    beating turns /healthz degraded, and the runtime's stop ends them before the clients they send
    through are closed (on_stop) and before the pool closes."""
    assert runtime.pool is not None
    attempt_limit = settings.notification_max_attempts
    policy = RetryPolicy(
        attempt_limit, settings.notification_backoff_base_seconds, settings.notification_backoff_cap_seconds
    )
    sender = Sender(
        pool=runtime.pool,
        units=runtime.unit_of_work,
        database_url=runtime.database_url,
        channels=open_channels(runtime, settings, lookup),
        policy=policy,
        send_timeout=settings.notification_send_timeout_seconds,
        batch_size=settings.notification_sender_batch,
        workers=settings.notification_senders,
        poll_seconds=settings.notification_sender_poll_seconds,
    )
    digests = DigestScheduler(
        pool=runtime.pool,
        interval=settings.notification_digest_seconds,
        channels=channels_on,
        attempt_limit=attempt_limit,
    )
    app.state.sender, app.state.digests = sender, digests
    digests.heartbeat = lambda: runtime.heartbeat(DIGESTS_TASK)
    runtime.supervise(DIGESTS_TASK, digests.run, stuck_after=digests.stuck_after)
    if settings.notification_sender_enabled:
        sender.heartbeat = lambda: runtime.heartbeat(SENDER_TASK)
        runtime.supervise(SENDER_TASK, sender.run, stuck_after=sender.stuck_after)
        runtime.add_health_check("delivery_listener", sender.listener_health)


def run() -> None:
    serve(build_app(), port_env="DTKS_NOTIFICATION_PORT", default_port=8004)


if __name__ == "__main__":
    run()
