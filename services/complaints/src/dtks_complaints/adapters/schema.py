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
