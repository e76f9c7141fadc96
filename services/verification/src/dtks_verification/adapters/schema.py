"""The verification service's tables (append-only migration steps; a released step is never edited)."""

from __future__ import annotations

MIGRATIONS = [
    """
    -- One row per proposal: its current round's content and where it stands (the queues read this).
    CREATE TABLE proposals (
        proposal_id     text PRIMARY KEY,
        round           integer NOT NULL,
        village_code    text NOT NULL,
        kind            text NOT NULL,
        content         jsonb NOT NULL,
        status          text NOT NULL,
        tier            text,
        tier_region     text,
        entered_at      timestamptz NOT NULL DEFAULT now(),
        -- Order of first submission: of two open proposals claiming one NIK, the earlier keeps it.
        seq             bigint GENERATED ALWAYS AS IDENTITY,
        stream_version  integer NOT NULL DEFAULT 0
    );
    CREATE INDEX proposals_queue ON proposals (tier, tier_region, entered_at) WHERE status = 'in_tier';
    CREATE INDEX proposals_status ON proposals (status);

    -- NIKs held by open proposals (until withdrawn, or until the registry registers the household).
    CREATE TABLE open_niks (
        nik          text NOT NULL,
        proposal_id  text NOT NULL,
        seq          bigint NOT NULL,
        PRIMARY KEY (nik, proposal_id)
    );
    CREATE INDEX open_niks_proposal ON open_niks (proposal_id);

    -- The register as the registry's events describe it: households and the people in them.
    CREATE TABLE registered_households (
        household_id  text PRIMARY KEY,
        kk_number     text NOT NULL,
        active        boolean NOT NULL
    );
    CREATE INDEX registered_households_kk ON registered_households (kk_number) WHERE active;
    CREATE TABLE registered_people (
        nik           text PRIMARY KEY,
        household_id  text NOT NULL,
        name_key      text NOT NULL,
        birth_date    date NOT NULL,
        district      text NOT NULL
    );
    CREATE INDEX registered_people_household ON registered_people (household_id);
    CREATE INDEX registered_people_namesake ON registered_people (district, name_key, birth_date);

    -- Integrity checks waiting to run (always briefly; for as long as the civil registry is down).
    CREATE TABLE pending_checks (
        proposal_id   text PRIMARY KEY,
        round         integer NOT NULL,
        stage         text NOT NULL,
        requested_by  jsonb,
        note          text,
        correlation_id text,
        causation_id  text,
        queued_at     timestamptz NOT NULL DEFAULT now(),
        not_before    timestamptz NOT NULL DEFAULT now(),
        attempts      integer NOT NULL DEFAULT 0,
        last_error    text
    );
    CREATE INDEX pending_checks_due ON pending_checks (not_before, queued_at);

    CREATE TABLE field_visits (
        visit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        proposal_id  text NOT NULL,
        round        integer NOT NULL,
        visit        jsonb NOT NULL,
        recorded_by  jsonb NOT NULL,
        recorded_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX field_visits_proposal ON field_visits (proposal_id, visit_id);

    CREATE TABLE ratifications (
        batch_id       text PRIMARY KEY,
        regency_code   text NOT NULL,
        decree_number  text NOT NULL,
        decree_date    date NOT NULL,
        proposal_ids   text[] NOT NULL,
        ratified_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (regency_code, decree_number)
    );
    """,
    """
    -- Freeze periods the Ministry declared (verification owns them; see governance.py).
    CREATE TABLE freezes (
        freeze_id       text PRIMARY KEY,
        scope           text NOT NULL,
        actions         text[] NOT NULL,
        starts_at       timestamptz NOT NULL,
        ends_at         timestamptz NOT NULL,
        reason          text NOT NULL,
        lifted          boolean NOT NULL DEFAULT false,
        stream_version  integer NOT NULL
    );
    CREATE INDEX freezes_end ON freezes (ends_at);

    -- Working days an item may wait at a tier: the country's (regency_code '') or one regency's.
    CREATE TABLE deadline_policies (
        tier            text NOT NULL,
        regency_code    text NOT NULL DEFAULT '',
        working_days    integer NOT NULL,
        stream_version  integer NOT NULL,
        PRIMARY KEY (tier, regency_code)
    );
    """,
    """
    -- Overdue notices already raised: one per item's stay at a tier (its entry) and level.
    CREATE TABLE overdue_marks (
        proposal_id  text NOT NULL,
        tier         text NOT NULL,
        entered_at   timestamptz NOT NULL,
        level        integer NOT NULL,
        marked_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (proposal_id, tier, entered_at, level)
    );
    """,
    """
    -- Social welfare institutions (LKS). The current residents an open institution proposal names,
    -- until it is withdrawn or its institution registered (like open_niks for household members).
    CREATE TABLE open_residents (
        nik          text NOT NULL,
        proposal_id  text NOT NULL,
        seq          bigint NOT NULL,
        PRIMARY KEY (nik, proposal_id)
    );
    CREATE INDEX open_residents_proposal ON open_residents (proposal_id);
    -- The register's institutions and their current residents, as the registry's events describe them.
    CREATE TABLE registered_institutions (
        institution_id  text PRIMARY KEY,
        active          boolean NOT NULL
    );
    CREATE TABLE registered_residents (
        nik             text PRIMARY KEY,
        institution_id  text NOT NULL
    );
    CREATE INDEX registered_residents_institution ON registered_residents (institution_id);
    """,
    """
    -- Field photos uploaded as evidence (their bytes in the photo store, keyed by this hash), and
    -- what each visit's photos were found to say against the visit's claims (for the verifier).
    CREATE TABLE evidence_photos (
        sha256        text PRIMARY KEY,
        content_type  text NOT NULL,
        size_bytes    integer NOT NULL,
        taken_at      timestamp,
        latitude      double precision,
        longitude     double precision,
        uploaded_by   jsonb NOT NULL,
        uploaded_at   timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE field_visits ADD COLUMN findings jsonb NOT NULL DEFAULT '[]'::jsonb;
    """,
    """
    -- Re-verification rounds (#23). The register copy keeps what a prelist needs: the household's
    -- village, its record (a changed household's correction is pre-filled from it), its decile (a
    -- change raises a flag) and when a round last visited it. Households registered before this step
    -- get them with their next registry event (or a replay of this consumer).
    ALTER TABLE registered_households ADD COLUMN village_code text,
                                      ADD COLUMN snapshot jsonb,
                                      ADD COLUMN decile smallint,
                                      ADD COLUMN last_visited_on date;
    CREATE INDEX registered_households_village
        ON registered_households (village_code text_pattern_ops) WHERE active;
    -- Facts from events that call for a visit (a decile changed, ...), until a round visits.
    CREATE TABLE household_flags (
        household_id  text NOT NULL,
        flag          text NOT NULL,
        raised_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (household_id, flag)
    );
    CREATE TABLE reverification_rounds (
        round_id        text PRIMARY KEY,
        region          text NOT NULL,
        period_start    date NOT NULL,
        period_end      date NOT NULL,
        selection       jsonb NOT NULL,
        size_limit      integer,
        households      integer NOT NULL,
        opened_by       jsonb NOT NULL,
        opened_at       timestamptz NOT NULL DEFAULT now(),
        closed_at       timestamptz,
        closed_by       jsonb,
        recap           jsonb,
        stream_version  integer NOT NULL
    );
    -- The prelist: one row per household to visit, copied from the register when the round opened
    -- (what the officer reads), then the visit's outcome.
    CREATE TABLE prelist_entries (
        round_id      text NOT NULL,
        household_id  text NOT NULL,
        village_code  text NOT NULL,
        kk_number     text NOT NULL,
        head_name     text,
        street        text,
        rt            text,
        rw            text,
        members       integer NOT NULL,
        outcome       text,
        visit         jsonb,
        findings      jsonb,
        fingerprint   text,
        proposal_id   text,
        recorded_by   jsonb,
        recorded_at   timestamptz,
        PRIMARY KEY (round_id, household_id)
    );
    CREATE INDEX prelist_by_village ON prelist_entries (round_id, village_code, kk_number, household_id);
    """,
    """
    -- The overdue scan walks the waiting items oldest first, each batch from where the last stopped.
    CREATE INDEX proposals_waiting_since ON proposals (entered_at, proposal_id) WHERE status = 'in_tier';
    """,
    """
    -- Two open re-verification rounds never cover the same households in overlapping periods: the
    -- database refuses the second, however many open at once. Region codes are fixed-width and
    -- nested (17, 17.71, 17.71.01, 17.71.01.1001), so a region is the span of codes [code, code~)
    -- in byte order, and two regions share households exactly when their spans overlap (one holds
    -- the other); ID, the whole country, is the unbounded span.
    CREATE TYPE region_span AS RANGE (subtype = text, collation = "C");
    CREATE FUNCTION region_span_of(code text) RETURNS region_span
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN CASE WHEN code = 'ID' THEN region_span(NULL, NULL) ELSE region_span(code, code || '~') END;
    ALTER TABLE reverification_rounds ADD CONSTRAINT open_rounds_do_not_overlap
        EXCLUDE USING gist (region_span_of(region) WITH &&, daterange(period_start, period_end, '[]') WITH &&)
        WHERE (closed_at IS NULL);
    """,
    """
    -- Which villages' visits name each photo: who may see a photo (GET /evidence/{sha256}) is who may
    -- see one of those visits. Filled as visits are recorded; here from the visits before it.
    CREATE TABLE photo_villages (
        sha256        text NOT NULL,
        village_code  text NOT NULL,
        PRIMARY KEY (sha256, village_code)
    );
    INSERT INTO photo_villages (sha256, village_code)
        SELECT photo->>'sha256', p.village_code
        FROM field_visits v JOIN proposals p USING (proposal_id),
             jsonb_array_elements(coalesce(v.visit->'photos', '[]'::jsonb)) AS photo
        UNION
        SELECT photo->>'sha256', e.village_code
        FROM prelist_entries e, jsonb_array_elements(coalesce(e.visit->'photos', '[]'::jsonb)) AS photo
        WHERE e.visit IS NOT NULL
        ON CONFLICT DO NOTHING;
    """,
    """
    -- The overdue scan walks the waiting items queue by queue and reads all it needs of them from
    -- this index (an index-only scan once vacuum has marked the pages visible), never their ~2 KB rows.
    CREATE INDEX proposals_waiting_by_queue ON proposals (tier, tier_region, entered_at)
        INCLUDE (proposal_id, village_code) WHERE status = 'in_tier';
    -- What the scan has announced, one row per group of items that fall due together: those of one
    -- queue (tier and its region) and regency (hence one calendar) that entered on one day (WIB), at
    -- one level. Every item of a group is overdue from the same day, so marking the group marks each
    -- item's stay once, with a row per queue and day instead of one per item.
    CREATE TABLE overdue_days (
        tier          text NOT NULL,
        tier_region   text NOT NULL,
        regency_code  text NOT NULL,
        entered_on    date NOT NULL,
        level         integer NOT NULL,
        working_days  integer,
        due_date      date,
        notify_tier   text NOT NULL,
        notify_region text NOT NULL,
        items         integer NOT NULL,
        pass_id       text NOT NULL,
        marked_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tier, tier_region, regency_code, entered_on, level)
    );
    -- The stays the item-by-item scan (verification.item_overdue) announced and that still wait, as
    -- their groups: not announced again. (Its marks stay, with its events, for the history.)
    -- Whom each told: at level 1 the tier's own officers, at level 2 those of the tier above (as
    -- overdue_scan.TIER_ABOVE).
    INSERT INTO overdue_days (tier, tier_region, regency_code, entered_on, level, notify_tier,
                              notify_region, items, pass_id, marked_at)
    SELECT m.tier, p.tier_region, left(p.village_code, 5),
           (m.entered_at AT TIME ZONE 'Asia/Jakarta')::date, m.level,
           CASE WHEN m.level = 1 THEN m.tier
                ELSE CASE m.tier WHEN 'district' THEN 'regency' WHEN 'province' THEN 'ministry'
                                 ELSE 'province' END END,
           CASE WHEN m.level = 1 THEN p.tier_region
                ELSE CASE m.tier WHEN 'district' THEN left(p.village_code, 5) WHEN 'province' THEN 'ID'
                                 ELSE left(p.village_code, 2) END END,
           count(*), 'item-by-item', min(m.marked_at)
    FROM overdue_marks m
    JOIN proposals p ON p.proposal_id = m.proposal_id AND p.tier = m.tier AND p.entered_at = m.entered_at
                    AND p.status = 'in_tier'
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT DO NOTHING;
    -- Each pass of the scan: when it began and ended, and how many item-levels it announced.
    CREATE TABLE overdue_passes (
        pass_id     text PRIMARY KEY,
        started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at timestamptz,
        announced   integer
    );
    """,
    """
    -- What waits in a region (a tier's queue page, the queues' figures, the regencies with waiting
    -- items, the overdue counts) is read by region_filter's range of the byte order, which only a
    -- text_pattern_ops index serves: over proposals_queue's default collation every read by region
    -- walked all that waits (a district's page 0.45 s, its figures 0.19 s over 1,000,000 waiting
    -- items). The queue's order and what those reads take are in the index, so a district's page
    -- reads its own rows and its figures none. It replaces proposals_queue.
    CREATE INDEX proposals_waiting_in_region
        ON proposals (tier_region text_pattern_ops, tier, entered_at, proposal_id)
        INCLUDE (village_code) WHERE status = 'in_tier';
    DROP INDEX proposals_queue;
    """,
]
