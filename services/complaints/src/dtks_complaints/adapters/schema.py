"""The complaints service's tables (append-only migration steps; see dtks_runtime.db.migrate)."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE complaints (
        complaint_id         text PRIMARY KEY,
        tracking_digest      bytea NOT NULL UNIQUE,
        kind                 text NOT NULL,
        channel              text NOT NULL,
        village_code         text NOT NULL,
        district_code        text NOT NULL,
        complainant_nik      text NOT NULL,
        complainant_name     text NOT NULL,
        phone                text,           -- for the answer only; cleared when the complaint closes
        description          text NOT NULL,
        subject_nik          text,
        subject_household_id text,
        subject_proposal_id  text,
        status               text NOT NULL,
        proposal_id          text,
        proposal_stage       text,
        closing_reason       text,
        decree_number        text,
        filed_at             timestamptz NOT NULL,
        due_at               timestamptz NOT NULL,
        escalated_at         timestamptz,
        closed_at            timestamptz,
        version              integer NOT NULL
    );
    CREATE INDEX complaints_waiting ON complaints (village_code, filed_at) WHERE status <> 'closed';
    CREATE INDEX complaints_due ON complaints (due_at) WHERE status = 'open';
    CREATE INDEX complaints_by_proposal ON complaints (proposal_id) WHERE proposal_id IS NOT NULL;
    """
]

# The register as far as life events need it (who belongs to which household, in which village,
# and whether it is active), and the drafts and tallies life events produce.
MIGRATIONS.append(
    """
    CREATE TABLE register_members (
        nik          text PRIMARY KEY,
        household_id text NOT NULL,
        village_code text NOT NULL,
        members      integer NOT NULL,  -- the household's member count
        active       boolean NOT NULL
    );
    CREATE INDEX register_members_household ON register_members (household_id);
    CREATE TABLE life_event_drafts (
        draft_id            text PRIMARY KEY,
        life_event_id       text NOT NULL UNIQUE,  -- one draft per life event, however often delivered
        event_type          text NOT NULL,
        nik                 text NOT NULL,
        household_id        text NOT NULL,
        village_code        text NOT NULL,
        proposal_kind       text NOT NULL,
        deactivation_reason text,
        note                text NOT NULL,
        status              text NOT NULL DEFAULT 'draft',
        created_at          timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX life_event_drafts_village ON life_event_drafts (village_code, created_at) WHERE status = 'draft';
    CREATE TABLE life_event_tallies (
        outcome text PRIMARY KEY,  -- drafted, unknown_nik, household_inactive, no_change
        count   bigint NOT NULL
    );
    """
)

# How far every proposal got, as its events tell: a complaint linked after a proposal moved (or was
# decided) starts from there instead of waiting for events that already passed.
MIGRATIONS.append(
    """
    CREATE TABLE proposal_progress (
        proposal_id   text PRIMARY KEY,
        stage         text,
        decree_number text
    );
    """
)

# The village's decision on each life-event draft (#17): confirmed into a proposal it then follows
# (through proposal_progress, as a complaint does), or dismissed with a coded reason. The life
# event's own fields pre-fill the proposal; a move's receiving village reads it as a note; the
# person's name (as the register has it) shows in the queue.
MIGRATIONS.append(
    """
    ALTER TABLE register_members ADD COLUMN name text;
    ALTER TABLE life_event_drafts
        ADD COLUMN details          jsonb,
        ADD COLUMN person_name      text,
        ADD COLUMN to_village       text,
        ADD COLUMN proposal_id      text,
        ADD COLUMN proposal_stage   text,
        ADD COLUMN decree_number    text,
        ADD COLUMN dismissal_reason text,
        ADD COLUMN dismissal_note   text,
        ADD COLUMN decided_at       timestamptz,
        ADD COLUMN version          integer NOT NULL DEFAULT 0;
    CREATE INDEX life_event_drafts_by_proposal ON life_event_drafts (proposal_id)
        WHERE proposal_id IS NOT NULL;
    CREATE INDEX life_event_drafts_arriving ON life_event_drafts (to_village, created_at)
        WHERE to_village IS NOT NULL;
    """
)

# The order complaints were filed (and drafts opened) in, for lists: two at one moment (the same instant of the
# service's clock) keep their filing order, and a page's cursor continues after exactly the last one.
MIGRATIONS.append(
    """
    ALTER TABLE complaints ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
    ALTER TABLE life_event_drafts ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
    """
)
