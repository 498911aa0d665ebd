-- Email notices (approvals, accepted invitations, first opens): one row per event and recipient.
-- The unique key makes a second enqueue of the same event for the same address (the event seen
-- twice, or by two instances) add nothing: nobody gets more than one notice per event.
-- state: queued (waiting or between attempts), sending (handed to the transport; a crash here
-- leaves the outcome unknown and the notice is never sent again), sent, failed (final, with why).
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    event_key   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    address     TEXT NOT NULL,
    address_key TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    language    TEXT NOT NULL DEFAULT '',
    link        TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    transport   TEXT NOT NULL DEFAULT '',
    job_id      INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    UNIQUE (event_key, address_key)
);
-- The dispatcher hands queued notices without a job to the job queue, oldest first.
CREATE INDEX notices_undispatched ON notices (created_at, id) WHERE state = 'queued' AND job_id IS NULL;
CREATE INDEX notices_recent ON notices (created_at DESC, id DESC);
