"""This service's own tables: the message ids it has seen, its exchange log, its transactions and
subscriptions. It owns no register data."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE dci_messages (
        sender_id text NOT NULL,
        message_id text NOT NULL,
        message_ts timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sender_id, message_id)
    );
    -- Every exchange, in and out, for the auditors: who, what, the outcome; never the records.
    CREATE TABLE dci_exchanges (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        direction text NOT NULL CHECK (direction IN ('in', 'out')),
        path text NOT NULL,
        agency text,
        sender_id text,
        message_id text,
        transaction_id text,
        correlation_id text,
        action text,
        http_status int,
        outcome text NOT NULL,
        records int NOT NULL DEFAULT 0,
        detail text
    );
    CREATE INDEX dci_exchanges_agency ON dci_exchanges (agency, at);
    -- Asynchronous requests: taken (rcvd), answered (succ/rjct) with the message we sent back,
    -- delivered to the agency's callback.
    CREATE TABLE dci_transactions (
        correlation_id text PRIMARY KEY,
        kind text NOT NULL,
        agency text NOT NULL,
        transaction_id text NOT NULL,
        reference_ids text[] NOT NULL DEFAULT '{}',
        grant_json jsonb NOT NULL,
        request jsonb NOT NULL,
        callback_uri text,
        status text NOT NULL DEFAULT 'rcvd',
        response jsonb,
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dci_transactions_due ON dci_transactions (next_attempt_at)
        WHERE delivered_at IS NULL AND callback_uri IS NOT NULL;
    CREATE INDEX dci_transactions_agency ON dci_transactions (agency, transaction_id);
    CREATE TABLE dci_subscriptions (
        code text PRIMARY KEY,
        agency text NOT NULL,
        reference_id text NOT NULL,
        grant_json jsonb NOT NULL,
        criteria jsonb NOT NULL,
        query jsonb NOT NULL,
        callback_uri text NOT NULL,
        status text NOT NULL DEFAULT 'subscribe',
        created_at timestamptz NOT NULL DEFAULT now(),
        ended_at timestamptz
    );
    -- One notification per (subscription, decree): recorded with the consumed decree event, sent
    -- by the notify worker, retried until delivered.
    CREATE TABLE dci_notifications (
        id bigserial PRIMARY KEY,
        subscription_code text NOT NULL REFERENCES dci_subscriptions (code),
        decree_number text NOT NULL,
        household_ids text[] NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        last_error text,
        UNIQUE (subscription_code, decree_number)
    );
    CREATE INDEX dci_notifications_due ON dci_notifications (next_attempt_at) WHERE delivered_at IS NULL;
    """,
    """
    -- A decree's changes are notified in pages (DTKS_DCI_NOTIFY_PAGE_HOUSEHOLDS a message), and a
    -- decree published in chunks (#21) names them in its chunks, read from decree_chunks as each page
    -- is sent: its household_ids is NULL. next_chunk and next_item are where the next page starts
    -- (the chunk, or 0 for household_ids, and the position in it); pages_done the pages sent or
    -- skipped, pages_sent those sent, pages how many there are (NULL for a row recorded before).
    ALTER TABLE dci_notifications
        ALTER COLUMN household_ids DROP NOT NULL,
        ADD COLUMN next_chunk integer NOT NULL DEFAULT 0,
        ADD COLUMN next_item integer NOT NULL DEFAULT 0,
        ADD COLUMN pages integer,
        ADD COLUMN pages_done integer NOT NULL DEFAULT 0,
        ADD COLUMN pages_sent integer NOT NULL DEFAULT 0;
    """,
]
