"""The service's tables (forward-only migration steps; never edit a step, append a new one)."""

from __future__ import annotations

MIGRATIONS = [
    # Who may be reached how: officers' email and phone by role and region ('' subject: the office).
    """
    CREATE TABLE directory (
        role        text NOT NULL,
        region      text NOT NULL,
        subject     text NOT NULL DEFAULT '',
        email       text,
        phone       text,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (role, region, subject)
    )
    """,
    # What earlier events taught, to address later ones (see domain.rules.Knowledge).
    """
    CREATE TABLE known_proposals (
        proposal_id   text PRIMARY KEY,
        village_code  text NOT NULL,
        submitted_by  text
    )
    """,
    """
    CREATE TABLE known_households (
        household_id  text PRIMARY KEY,
        village_code  text NOT NULL,
        kk_number     text NOT NULL,
        programs      text[] NOT NULL DEFAULT '{}',
        phone         text
    )
    """,
    # Arrivals in a tier's queue not yet told in a digest.
    """
    CREATE TABLE queue_arrivals (
        tier         text NOT NULL,
        region       text NOT NULL,
        proposal_id  text NOT NULL,
        arrived_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tier, proposal_id)
    )
    """,
    """
    CREATE TABLE subscriptions (
        subscription_id  text PRIMARY KEY,
        agency           text NOT NULL,
        agency_region    text NOT NULL,
        callback_url     text NOT NULL,
        secret           text NOT NULL,
        event_types      text[] NOT NULL,
        regions          text[] NOT NULL,
        programs         text[] NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        deleted_at       timestamptz
    )
    """,
    "CREATE INDEX subscriptions_by_agency ON subscriptions (agency, created_at)",
    # One notification: an inbox item when addressed to a role and region, else a message to a
    # household or an agency. event_version counts its delivery events (its event-store stream).
    """
    CREATE TABLE notifications (
        notification_id   text PRIMARY KEY,
        rule              text NOT NULL,
        role              text,
        region            text,
        subject           text,
        household_id      text,
        subscription_id   text,
        title             text NOT NULL,
        body              text NOT NULL,
        related_event_id  uuid NOT NULL,
        correlation_id    text NOT NULL,
        event_version     integer NOT NULL DEFAULT 0,
        created_at        timestamptz NOT NULL DEFAULT now()
    )
    """,
    """CREATE INDEX notifications_inbox ON notifications (role, region, created_at DESC)
       WHERE role IS NOT NULL""",
    """
    CREATE TABLE inbox_reads (
        notification_id  text NOT NULL REFERENCES notifications,
        reader           text NOT NULL,
        read_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (notification_id, reader)
    )
    """,
    # One channel's delivery of a notification to one recipient; its id is fixed when decided.
    """
    CREATE TABLE deliveries (
        delivery_id      text PRIMARY KEY,
        notification_id  text NOT NULL REFERENCES notifications,
        channel          text NOT NULL,
        recipient        text NOT NULL,
        subscription_id  text REFERENCES subscriptions,
        status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts         integer NOT NULL DEFAULT 0,
        attempt_limit    integer NOT NULL,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        last_error       text,
        delivered_at     timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, created_at)",
    "CREATE INDEX deliveries_dead ON deliveries (created_at) WHERE status = 'dead'",
    """
    CREATE TABLE delivery_attempts (
        delivery_id   text NOT NULL REFERENCES deliveries,
        attempt       integer NOT NULL,
        attempted_at  timestamptz NOT NULL DEFAULT now(),
        outcome       text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
        error         text,
        duration_ms   integer NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    )
    """,
    # Institutions' proposals (LKS, issue #19): the kind gives the queue that follows a tier, and
    # the proposer (the social service or the institution's operator) is who hears of a return.
    "ALTER TABLE known_proposals ADD COLUMN kind text, ADD COLUMN submitter_role text, "
    "ADD COLUMN submitter_region text",
    # An event as agencies receive it (its public envelope, canonical JSON), kept once however many
    # subscriptions it goes to (#21): a national decree's chunks are some 100 MB, and each agency's
    # body was a copy. An agency's notification has no body (NULL); the sender wraps the kept
    # envelope in the delivery's ids when it sends, the same bytes on every attempt.
    """
    CREATE TABLE agency_envelopes (
        event_id    uuid PRIMARY KEY,
        envelope    text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE notifications ALTER COLUMN body DROP NOT NULL",
]

DUE_CHANNEL = "dtks_notification_due"  # NOTIFY'd when deliveries become due: wakes the sender
