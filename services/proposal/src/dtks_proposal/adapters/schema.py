"""The proposal service's own tables. Migration steps are append-only: never edit a released one."""

from __future__ import annotations

from dtks_runtime import freezes

MIGRATIONS = [
    # The status read model: one row per proposal, its latest content, and where it stands.
    """
    CREATE TABLE proposals (
        proposal_id      text PRIMARY KEY,
        seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        kind             text        NOT NULL,
        village_code     text        NOT NULL,
        regency_code     text        NOT NULL,
        status           text        NOT NULL,
        round            integer     NOT NULL,
        waiting_at       text,
        stream_version   integer     NOT NULL,
        content          jsonb       NOT NULL,
        target_household_id text,
        household_id     text,
        decree_number    text,
        import_id        uuid,
        submitted_by     text        NOT NULL,
        submitted_at     timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX proposals_by_village ON proposals (village_code text_pattern_ops, seq);
    CREATE INDEX proposals_by_regency ON proposals (regency_code, submitted_at);
    CREATE TABLE proposal_timeline (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        proposal_id  text        NOT NULL,
        event_id     uuid        NOT NULL,
        event_type   text        NOT NULL,
        round        integer,
        at           timestamptz NOT NULL,
        actor        jsonb,
        tier         text,
        reasons      jsonb       NOT NULL DEFAULT '[]',
        note         text,
        details      jsonb       NOT NULL DEFAULT '{}',
        UNIQUE (proposal_id, event_id)
    );
    CREATE INDEX proposal_timeline_by_proposal ON proposal_timeline (proposal_id, at, id);
    """,
    # Answers given to idempotent requests, replayed to retries with the same key and body.
    """
    CREATE TABLE idempotency (
        key          text PRIMARY KEY,
        fingerprint  text        NOT NULL,
        status_code  integer     NOT NULL,
        response     jsonb       NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Windows and quotas per regency (opt-in: no row, no restriction).
    """
    CREATE TABLE windows (
        regency_code  text PRIMARY KEY,
        is_open       boolean     NOT NULL,
        period_start  date,
        period_end    date,
        quota         integer,
        used          integer     NOT NULL DEFAULT 0,
        updated_by    jsonb       NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Bulk imports: the file is staged durably at upload, then worked off household by household.
    """
    CREATE TABLE imports (
        import_id       uuid PRIMARY KEY,
        content_hash    text        NOT NULL,
        uploader_region text        NOT NULL,
        uploaded_by     jsonb       NOT NULL,
        correlation_id  text        NOT NULL,
        filename        text,
        format          text        NOT NULL,
        defaults        jsonb       NOT NULL,
        status          text        NOT NULL,
        rows_total      integer     NOT NULL,
        households_total integer    NOT NULL,
        rows_processed  integer     NOT NULL DEFAULT 0,
        households_done integer     NOT NULL DEFAULT 0,
        households_accepted integer NOT NULL DEFAULT 0,
        households_rejected integer NOT NULL DEFAULT 0,
        created_at      timestamptz NOT NULL DEFAULT now(),
        started_at      timestamptz,
        finished_at     timestamptz,
        UNIQUE (uploader_region, content_hash)
    );
    CREATE TABLE import_rows (
        import_id   uuid    NOT NULL,
        row_number  integer NOT NULL,
        group_no    integer,
        data        jsonb   NOT NULL,
        PRIMARY KEY (import_id, row_number)
    );
    CREATE INDEX import_rows_by_group ON import_rows (import_id, group_no);
    CREATE TABLE import_households (
        import_id   uuid    NOT NULL,
        group_no    integer NOT NULL,
        kk_number   text    NOT NULL,
        row_count   integer NOT NULL,
        done        boolean NOT NULL DEFAULT false,
        proposal_id text,
        PRIMARY KEY (import_id, group_no)
    );
    CREATE INDEX import_households_pending ON import_households (import_id, group_no) WHERE NOT done;
    CREATE TABLE import_rejections (
        import_id   uuid    NOT NULL,
        row_number  integer NOT NULL,
        field       text    NOT NULL,
        reason      text    NOT NULL,
        kk_number   text
    );
    CREATE INDEX import_rejections_by_import ON import_rejections (import_id, row_number);
    """,
    # Rejected rows are read a page at a time (a file of 400,000 rows may reject most of them): each
    # needs an identity for the cursor, since one row may be rejected twice for the same field.
    """
    ALTER TABLE import_rejections ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
    CREATE INDEX import_rejections_pages ON import_rejections (import_id, row_number, field, id);
    """,
    # A staged row is written once and read back whole, never queried inside: as text PostgreSQL
    # neither parses it into jsonb at upload (400,000 rows in a large file) nor prints it back.
    "ALTER TABLE import_rows ALTER COLUMN data TYPE text USING data::text",
    # An import whose chunk keeps failing is retried after a pause (retry_at), and parked as
    # 'failed' with its reason after a bounded number of attempts, so it never holds up the imports
    # behind it; an operator may cancel one ('cancelled'). progress_at is the last chunk written,
    # which /healthz compares with the time imports have been waiting.
    """
    ALTER TABLE imports ADD COLUMN attempts integer NOT NULL DEFAULT 0,
                        ADD COLUMN last_error text,
                        ADD COLUMN retry_at timestamptz,
                        ADD COLUMN progress_at timestamptz,
                        ADD COLUMN cancelled_by jsonb;
    CREATE INDEX imports_unfinished ON imports (created_at) WHERE status IN ('staged', 'processing');
    """,
    # The Ministry's freeze periods, from verification's events (dtks_runtime.freezes): a freeze of
    # new proposals refuses a village's submission while it holds.
    freezes.MIGRATION,
    # A rejection's stable code and its values (JSON), so a console can say it in its own language.
    """
    ALTER TABLE import_rejections ADD COLUMN code text NOT NULL DEFAULT 'invalid_value',
                                  ADD COLUMN params text;
    """,
    # The registry's institutions (#19), from its institution events: the door of an assistance
    # proposal checks the institution is open, accredited today, and has the residents named.
    """
    CREATE TABLE registered_institutions (
        institution_id  text PRIMARY KEY,
        village_code    text    NOT NULL,
        open            boolean NOT NULL,
        accreditation   jsonb,
        residents       jsonb   NOT NULL,
        last_decree     text    NOT NULL
    );
    """,
]
