"""The notification service's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

from pydantic import Field

from dtks_notification.domain.callbacks import CallbackPolicy
from dtks_runtime.settings import RuntimeSettings


class NotificationSettings(RuntimeSettings):
    # How often queued work is summed up for each tier (one digest per tier and region, not one
    # message per proposal: a district verifier with 300 new items wants one message, not 300).
    notification_digest_seconds: float = Field(default=900.0, gt=0)
    # Email over SMTP; no host means the email channel is off and no email deliveries are decided.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "dtks-notification@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    # SMS through an HTTP gateway (POST JSON {to, message, reference}); no URL means no SMS.
    sms_gateway_url: str | None = None
    # Delivery: attempts per delivery before it is parked as a dead letter, backoff between them.
    notification_max_attempts: int = Field(default=8, ge=1)
    notification_backoff_base_seconds: float = Field(default=2.0, gt=0)
    notification_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    notification_send_timeout_seconds: float = Field(default=10.0, gt=0)
    notification_sender_batch: int = Field(default=500, ge=1)
    notification_senders: int = Field(default=2, ge=1)
    # Off only for operations (and the crash test): decisions are still recorded, nothing is sent.
    notification_sender_enabled: bool = True
    notification_sender_poll_seconds: float = Field(default=1.0, gt=0)
    # Development only: let agencies' callbacks reach loopback and private addresses (the tests' and
    # the demo's receivers run on 127.0.0.1). Refused in production, where callbacks must be https
    # and public (see dtks_notification.domain.callbacks).
    notification_allow_private_callbacks: bool = False

    @property
    def callback_policy(self) -> CallbackPolicy:
        return CallbackPolicy(
            require_https=self.env == "production",
            allow_private=self.notification_allow_private_callbacks,
        )

    def check_production_safety(self) -> None:
        super().check_production_safety()
        if self.env == "production" and self.notification_allow_private_callbacks:
            raise RuntimeError("DTKS_NOTIFICATION_ALLOW_PRIVATE_CALLBACKS must not be set in production")
