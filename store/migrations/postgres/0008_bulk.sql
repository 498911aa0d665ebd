-- Bulk invitations (issue 17): a job per upload, a row per line of the file. The dry run writes
-- the job as a draft with every row's verdict; confirming queues it; the sender moves each row
-- from pending through sending to a final state, one row at a time.
CREATE TABLE bulk_jobs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    owner_oid     TEXT NOT NULL,
    owner_upn     TEXT NOT NULL DEFAULT '',
    owner_name    TEXT NOT NULL DEFAULT '',
    owner_admin   BOOLEAN NOT NULL DEFAULT FALSE,
    owner_claims  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    format        TEXT NOT NULL DEFAULT '',
    send_email    BOOLEAN NOT NULL DEFAULT TRUE,
    rows_total    INTEGER NOT NULL DEFAULT 0,
    river_job_id  BIGINT NOT NULL DEFAULT 0,
    note          TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    confirmed_at  TIMESTAMPTZ,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX bulk_jobs_owner ON bulk_jobs (tenant_id, owner_oid, created_at);
CREATE INDEX bulk_jobs_tenant ON bulk_jobs (tenant_id, created_at);

CREATE TABLE bulk_rows (
    job_id          TEXT NOT NULL REFERENCES bulk_jobs (id) ON DELETE CASCADE,
    n               INTEGER NOT NULL,
    line            INTEGER NOT NULL,
    email           TEXT NOT NULL,
    display_name    TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    cc_address      TEXT NOT NULL DEFAULT '',
    redirect_url    TEXT NOT NULL DEFAULT '',
    language        TEXT NOT NULL DEFAULT '',
    user_type       TEXT NOT NULL DEFAULT '',
    send_email      BOOLEAN NOT NULL DEFAULT TRUE,
    verdict         TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    invitation_id   TEXT NOT NULL DEFAULT '',
    error_code      TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    sending_at      TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, n)
);
CREATE INDEX bulk_rows_state ON bulk_rows (job_id, state, n);
