"""The registry's tables. Append-only migration steps (see dtks_runtime.db.migrate).

Everything here is a projection of events, so a replay can build it again in a fresh schema:
- candidates: Ministry acceptances (verification.accepted_by_ministry), keyed by proposal id so the
  order in which partitions are read does not matter; pending = no household change names it;
- determinations: one row per registry.determination_issued;
- household_changes: one row per registry.household_* event (household, decree): the register as of
  any decree is a set-based query over it, again independent of read order;
- households, members: the register in force (latest change per household), for queries;
- audit_events: every event of every service, for the causal history of one household;
- welfare_deciles: the decile set centrally per household (registry.welfare_decile_set), the latest
  by stream version; kept beside the decreed snapshot, never in it, so a decile set between decrees
  changes no decree's register hash.
- institution_changes, institutions: the institutions section (#19), as household_changes and
  households are for households; institution_residents: the open institutions' residents by NIK,
  as members are for households.
- decree_chunks: a chunked decree's chunks, kept until its manifest (dtks_runtime.decree_assembly).
Ids are compared with COLLATE "C" so that ORDER BY household_id is the code-point order the register
hash is defined with.
"""

from __future__ import annotations

from dtks_runtime import decree_assembly, freezes

MIGRATIONS = [
    """
    CREATE TABLE candidates (
        proposal_id         text PRIMARY KEY,
        round               integer     NOT NULL,
        kind                text        NOT NULL,
        household_id        text COLLATE "C" NOT NULL,
        household           jsonb,
        deactivation_reason text,
        programs_requested  text[]      NOT NULL,
        village_code        text        NOT NULL,
        accepted_at         timestamptz NOT NULL,
        event_id            uuid        NOT NULL
    );
    CREATE INDEX candidates_household ON candidates (household_id);
    CREATE INDEX candidates_accepted ON candidates (accepted_at);

    CREATE TABLE determinations (
        decree_number  text PRIMARY KEY,
        period_start   date        NOT NULL UNIQUE,
        cut_off        timestamptz NOT NULL,
        issued_at      timestamptz NOT NULL,
        register_hash  text        NOT NULL,
        households     integer     NOT NULL,
        people         integer     NOT NULL,
        event_id       uuid        NOT NULL,
        payload        jsonb       NOT NULL,
        not_applied    jsonb
    );

    CREATE TABLE household_changes (
        household_id  text COLLATE "C" NOT NULL,
        decree_number text        NOT NULL,
        change        text        NOT NULL CHECK (change IN ('registered', 'corrected', 'deactivated')),
        proposal_id   text        NOT NULL,
        kk_number     text        NOT NULL,
        snapshot      jsonb,
        digest        text,
        village_code  text,
        programs      text[],
        people        integer,
        reason        text,
        event_id      uuid        NOT NULL,
        PRIMARY KEY (household_id, decree_number)
    );
    CREATE INDEX household_changes_proposal ON household_changes (proposal_id);
    CREATE INDEX household_changes_decree ON household_changes (decree_number);

    CREATE TABLE households (
        household_id        text COLLATE "C" PRIMARY KEY,
        kk_number           text    NOT NULL,
        village_code        text    NOT NULL,
        active              boolean NOT NULL,
        snapshot            jsonb   NOT NULL,
        digest              text    NOT NULL,
        programs            text[]  NOT NULL,
        people              integer NOT NULL,
        registered_in       text    NOT NULL,
        last_decree         text    NOT NULL,
        deactivation_reason text,
        deactivated_in      text
    );
    CREATE INDEX households_kk ON households (kk_number);
    CREATE INDEX households_village ON households (village_code text_pattern_ops);

    CREATE TABLE members (
        household_id     text COLLATE "C" NOT NULL,
        nik              text NOT NULL,
        name             text NOT NULL,
        relation_to_head text NOT NULL,
        PRIMARY KEY (household_id, nik)
    );
    CREATE INDEX members_nik ON members (nik);

    CREATE TABLE audit_events (
        event_id         uuid PRIMARY KEY,
        event_type       text        NOT NULL,
        occurred_at      timestamptz NOT NULL,
        correlation_id   text        NOT NULL,
        causation_id     text,
        proposal_id      text,
        household_id     text,
        decree_number    text,
        related_event_id uuid,
        envelope         jsonb       NOT NULL
    );
    CREATE INDEX audit_events_proposal ON audit_events (proposal_id);
    CREATE INDEX audit_events_household ON audit_events (household_id);
    CREATE INDEX audit_events_decree ON audit_events (decree_number);
    CREATE INDEX audit_events_related ON audit_events (related_event_id);
    """,
    # Snapshots (2-3 KB of JSON) are over the TOAST threshold, so every row compresses one; lz4
    # costs a fraction of the default pglz's CPU, which a decree or replay of hundreds of thousands
    # of households pays three times per household. Applies to values written from now on.
    """
    ALTER TABLE candidates ALTER COLUMN household SET COMPRESSION lz4;
    ALTER TABLE household_changes ALTER COLUMN snapshot SET COMPRESSION lz4;
    ALTER TABLE households ALTER COLUMN snapshot SET COMPRESSION lz4;
    ALTER TABLE audit_events ALTER COLUMN envelope SET COMPRESSION lz4;
    """,
    # The registry's outbox (the runtime's events table, installed before these steps): a decree
    # appends one envelope with a whole household per household it registers or corrects.
    "ALTER TABLE events ALTER COLUMN envelope SET COMPRESSION lz4",
    # The household's stream version orders its decile events: the highest wins whatever the read
    # order or redeliveries (a replay has no inbox).
    """
    CREATE TABLE welfare_deciles (
        household_id text COLLATE "C" PRIMARY KEY,
        decile       smallint    NOT NULL CHECK (decile BETWEEN 1 AND 10),
        source       text        NOT NULL,
        as_of        date        NOT NULL,
        version      integer     NOT NULL,
        event_id     uuid        NOT NULL,
        set_at       timestamptz NOT NULL
    );
    CREATE INDEX welfare_deciles_decile ON welfare_deciles (decile, household_id);
    """,
    # The Ministry's freeze periods, from verification's events (dtks_runtime.freezes): a freeze of
    # determination decrees refuses a new decree while it holds.
    freezes.MIGRATION,
    # When the live audit consumer recorded an event (its transaction's start, after the record was
    # read from the log): the auditors' verify compares only what was recorded before it read the
    # log, so the events a running system goes on producing are not taken for forgeries. now() is a
    # stable default, so adding the column rewrites no row (those already there get this moment).
    "ALTER TABLE audit_events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now()",
    # Institutions (LKS) the Ministry accepted, kept apart from the households' candidates: they
    # wait here, one row per proposal (a later round replaces an earlier one), for the decree that
    # determines institutions (issue #19). Households' candidates and decrees never read this table.
    """
    CREATE TABLE institution_candidates (
        proposal_id     text PRIMARY KEY,
        round           integer     NOT NULL,
        kind            text        NOT NULL,
        institution_id  text COLLATE "C",
        payload         jsonb       NOT NULL,
        village_code    text        NOT NULL,
        accepted_at     timestamptz NOT NULL,
        event_id        uuid        NOT NULL
    );
    CREATE INDEX institution_candidates_accepted ON institution_candidates (accepted_at);
    """,
    # A household's history finds its regency's proposal windows without scanning the audit trail.
    """CREATE INDEX audit_events_window_regency ON audit_events ((envelope->'payload'->>'regency_code'))
       WHERE event_type = 'proposal.window_set'""",
    # The institutions section of the register (#19), from the registry's institution_* events only,
    # as households' tables are from theirs: one row per event (institution, decree), and the
    # institutions in force (the latest change per institution; a closed one is kept, not open).
    """
    CREATE TABLE institution_changes (
        institution_id      text COLLATE "C" NOT NULL,
        decree_number       text        NOT NULL,
        change              text        NOT NULL CHECK (change IN ('registered', 'changed', 'closed')),
        proposal_id         text        NOT NULL,
        registration_number text        NOT NULL,
        snapshot            jsonb,
        digest              text,
        village_code        text,
        residents           integer,
        reason              text,
        event_id            uuid        NOT NULL,
        PRIMARY KEY (institution_id, decree_number)
    );
    CREATE INDEX institution_changes_proposal ON institution_changes (proposal_id);
    CREATE INDEX institution_changes_decree ON institution_changes (decree_number);

    CREATE TABLE institutions (
        institution_id      text COLLATE "C" PRIMARY KEY,
        registration_number text    NOT NULL,
        name                text    NOT NULL,
        service_type        text    NOT NULL,
        village_code        text    NOT NULL,
        open                boolean NOT NULL,
        snapshot            jsonb   NOT NULL,
        digest              text    NOT NULL,
        residents           integer NOT NULL,
        registered_in       text    NOT NULL,
        last_decree         text    NOT NULL,
        closure_reason      text,
        closed_in           text
    );
    CREATE INDEX institutions_village ON institutions (village_code text_pattern_ops);
    """,
    # Institutions' assistance (#19) as decrees determined it: one row per accepted assistance
    # proposal, written from the decree's own event (its institution_assistance list), so a replay
    # rebuilds it; the snapshot is the decree's entry and the digest its leaf's (the assistance section).
    """
    CREATE TABLE institution_assistance (
        proposal_id         text COLLATE "C" PRIMARY KEY,
        institution_id      text COLLATE "C" NOT NULL,
        decree_number       text    NOT NULL,
        program             text    NOT NULL,
        starts_on           date    NOT NULL,
        ends_on             date    NOT NULL,
        basis               text    NOT NULL,
        residents_counted   integer NOT NULL,
        snapshot            jsonb   NOT NULL,
        digest              text    NOT NULL
    );
    CREATE INDEX institution_assistance_institution ON institution_assistance (institution_id, starts_on);
    CREATE INDEX institution_assistance_decree ON institution_assistance (decree_number);
    """,
    # The residents of the open institutions in force, one row per resident entry of the snapshot
    # (#19), kept by the projection beside ``institutions`` (replaced with each registration or
    # change, removed at a closure), so the citizens' check and its proof find a resident by NIK
    # through an index instead of searching every institution's snapshot. Dates stay as the record
    # gives them: who lives there today is asked at query time. Filled at once from the institutions
    # already in force; a replay builds it from the events like every other table.
    """
    CREATE TABLE institution_residents (
        nik             text COLLATE "C" NOT NULL,
        institution_id  text COLLATE "C" NOT NULL,
        name            text NOT NULL,
        admitted_on     date NOT NULL,
        discharged_on   date
    );
    CREATE INDEX institution_residents_nik ON institution_residents (nik);
    CREATE INDEX institution_residents_institution ON institution_residents (institution_id);
    INSERT INTO institution_residents (nik, institution_id, name, admitted_on, discharged_on)
    SELECT r->>'nik', i.institution_id, r->>'name', (r->>'admitted_on')::date, (r->>'discharged_on')::date
    FROM institutions i CROSS JOIN LATERAL jsonb_array_elements(i.snapshot->'residents') r
    WHERE i.open;
    """,
    # Chunks of decrees larger than one chunk (#21), kept until their manifest assembles them: a
    # replay's (the live registry writes its decrees whole when it issues them). The runtime's table,
    # as every consumer of decrees has it (dtks_runtime.decree_assembly).
    *decree_assembly.MIGRATIONS,
    # (Steps are numbered by position: new ones go here, after the runtime's, never among them.)
    """
    -- Events about many proposals at once (verification.items_overdue lists up to 1,000 overdue
    -- items), filed under each of them for the households' histories.
    CREATE TABLE audit_event_proposals (
        proposal_id text NOT NULL,
        event_id    uuid NOT NULL,
        PRIMARY KEY (proposal_id, event_id)
    );
    """,
    # The decree keys' few events, found without walking the log (decree_chain.KEY_EVENTS).
    """CREATE INDEX events_decree_keys ON events (seq)
       WHERE event_type = 'registry.decree_key_activated'""",
    # A region's households as of a decree by their change rows (register.as_of_in_region_sql).
    "CREATE INDEX household_changes_village ON household_changes (village_code text_pattern_ops)",
    # A chunked decree is recorded as its manifest, its lists kept as its chunks (projection.
    # read_determination): whole, a national decree's lists exceed what one jsonb value holds
    # (268,435,455 bytes, some 2.4 million households registered). Decrees recorded whole before
    # take that form from the registry's own events, which is the form a replay records them in. One
    # pass over the event store, once.
    """
    INSERT INTO decree_chunks (decree_number, chunk_index, chunk)
    SELECT envelope->'payload'->>'decree_number', (envelope->'payload'->>'chunk_index')::int,
           envelope->'payload'
    FROM events WHERE event_type = 'registry.determination_chunk'
    ON CONFLICT (decree_number, chunk_index) DO NOTHING;
    UPDATE determinations d SET payload = e.envelope->'payload'
    FROM events e WHERE e.event_type = 'registry.determination_manifest' AND e.event_id = d.event_id;
    """,
    # A region's page of households (GET /households?region=) finds its ids in the index alone, in
    # household id order within a village, and then reads only the page's rows: through the village
    # index it read every household of the district to sort them, each on its own heap page (355
    # pages for a district of 355 households at a million, 65 ms when they are not in memory; a
    # district holds ten times as many at 10 million). ``active`` is in it for a page by status. It
    # serves every other read by region as the village index did, which it replaces.
    """
    CREATE INDEX households_village_page ON households (village_code text_pattern_ops, household_id)
        INCLUDE (active);
    DROP INDEX households_village;
    """,
]
