"""How the notification service reaches people and systems."""

from __future__ import annotations

from enum import StrEnum


class NotificationChannel(StrEnum):
    INBOX = "inbox"  # the operator's in-application inbox
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"  # partner agencies' subscriptions
