-- The guest lifecycle (issue 19): what Portico did, or means to do, to a guest after the invitation.
-- Times are INTEGER unix microseconds in UTC.
--
-- lifecycle_actions is the schedule's log: one row per (subject, action, step), where subject is
-- the invitation record's id (or 'user:<object id>' for a guest an admin opted in), action names
-- the rule (remind, warn, expire, review, ...) and step numbers repeated actions (reminder 1, 2;
-- review cycle n). The unique key makes every run idempotent: a second run, on any instance, finds
-- the row. state: claimed (an instance is acting; lease_until bounds it) → done | failed (retried
-- by a later run) | skipped (nothing to do, e.g. the guest accepted meanwhile).
CREATE TABLE lifecycle_actions (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    guest_id         TEXT NOT NULL DEFAULT '',
    action           TEXT NOT NULL,
    step             INTEGER NOT NULL,
    effect           TEXT NOT NULL DEFAULT '',
    policy           TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 1,
    actor            TEXT NOT NULL DEFAULT '',
    detail           TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    graph_request_id TEXT NOT NULL DEFAULT '',
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX lifecycle_actions_key ON lifecycle_actions (subject, action, step);
CREATE INDEX lifecycle_actions_tenant ON lifecycle_actions (tenant_id, updated_at, id);
CREATE INDEX lifecycle_actions_guest ON lifecycle_actions (tenant_id, guest_id, updated_at);

-- lifecycle_guests holds what an admin decided per guest (exempt from every rule; opted in although
-- Portico did not invite them) and the account state Portico last set or saw (enabled, disabled,
-- deleted), with the last sign-in Graph reported (signInActivity, when granted).
CREATE TABLE lifecycle_guests (
    tenant_id        TEXT NOT NULL,
    guest_id         TEXT NOT NULL,
    invitation_id    TEXT NOT NULL DEFAULT '',
    exempt           INTEGER NOT NULL DEFAULT 0 CHECK (exempt IN (0, 1)),
    opted_in         INTEGER NOT NULL DEFAULT 0 CHECK (opted_in IN (0, 1)),
    account_state    TEXT NOT NULL DEFAULT '' CHECK (account_state IN ('', 'enabled', 'disabled', 'deleted')),
    state_changed_at INTEGER,
    last_sign_in_at  INTEGER,
    note             TEXT NOT NULL DEFAULT '',
    updated_by       TEXT NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, guest_id)
);
CREATE INDEX lifecycle_guests_invitation ON lifecycle_guests (invitation_id);
