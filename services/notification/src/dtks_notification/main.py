"""Wiring: settings, runtime, consumer, sender, digest schedule, routes. The only module that knows them all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
from dtks_notification.digests import DigestScheduler
from dtks_notification.domain.retry import RetryPolicy
from dtks_notification.handlers import RuleHandler
from dtks_notification.sender import Sender
from dtks_notification.settings import NotificationSettings
from dtks_runtime.service import ServiceRuntime, create_app, serve

CONSUMER = "notification-rules"
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
    channels_on = ChannelsOn(email=bool(settings.smtp_host), sms=bool(settings.sms_gateway_url))
    attempt_limit = settings.notification_max_attempts
    runtime.add_consumer(
        CONSUMER,
        [PROPOSAL_EVENTS.name, VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name],
        RuleHandler(channels_on, attempt_limit),
    )
    app = create_app(runtime, title="DTKS notification service", description=DESCRIPTION)
    app.include_router(router)
    app.state.notification_settings = settings
    app.state.callback_lookup = lookup
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Inside the runtime's lifespan: the pool and the event store exist before the loops start,
        # and the loops stop before the pool closes.
        async with runtime_lifespan(app):
            assert runtime.pool is not None and runtime.store is not None
            timeout = settings.notification_send_timeout_seconds
            http = delivery_session(timeout=timeout)
            webhooks = delivery_session(
                timeout=timeout, resolver=GuardedResolver(settings.callback_policy, lookup)
            )
            channels = build_channels(settings, webhooks, http)
            policy = RetryPolicy(
                attempt_limit,
                settings.notification_backoff_base_seconds,
                settings.notification_backoff_cap_seconds,
            )
            sender = Sender(
                pool=runtime.pool,
                store=runtime.store,
                database_url=runtime.database_url,
                channels=channels,
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
            stop = asyncio.Event()
            tasks = [asyncio.create_task(digests.run(stop), name="queue-digests")]
            if settings.notification_sender_enabled:
                tasks.append(asyncio.create_task(sender.run(stop), name="delivery-sender"))
            try:
                yield
            finally:
                stop.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
                for channel in channels.values():
                    await channel.close()
                await http.close()
                await webhooks.close()

    app.router.lifespan_context = lifespan
    return app


def run() -> None:
    serve(build_app(), port_env="DTKS_NOTIFICATION_PORT", default_port=8004)


if __name__ == "__main__":
    run()
