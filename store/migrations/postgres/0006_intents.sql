-- A send intent is written, in its own transaction, before every Graph write (an invitation, a
-- resend; later bulk rows and group additions), and settled with Graph's answer. An intent left
-- open (crash, timeout, lost answer) is settled by the reconciler, which looks the user up and never
-- writes to Graph again. Times are TIMESTAMPTZ.
CREATE TABLE send_intents (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    address         TEXT NOT NULL,           -- the partner's address key (lower case)
    kind            TEXT NOT NULL,           -- invite, resend (bulk_row, group_add later)
    invitation_id   TEXT NOT NULL,           -- the record the intent creates or updates
    actor_oid       TEXT NOT NULL,           -- who acts (quota, audit)
    owner_oid       TEXT NOT NULL,           -- whose record it is
    request         TEXT NOT NULL,           -- what settling needs, as JSON (validated fields only)
    idem_key        TEXT,                    -- optional idempotency key, unique per tenant
    state           TEXT NOT NULL CHECK (state IN ('open', 'done', 'failed')),
    opened_at       TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ NOT NULL,    -- until then the caller settles it; after, the reconciler
    settled_at      TIMESTAMPTZ,
    attempts        INTEGER NOT NULL DEFAULT 0, -- reconciler lookups so far
    outcome         TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT ''
);
-- One intent per partner at a time, across instances.
CREATE UNIQUE INDEX send_intents_one_open ON send_intents (tenant_id, address) WHERE state = 'open';
CREATE UNIQUE INDEX send_intents_idem ON send_intents (tenant_id, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX send_intents_lease ON send_intents (state, lease_until);
CREATE INDEX send_intents_actor ON send_intents (tenant_id, actor_oid, opened_at);
CREATE INDEX send_intents_invitation ON send_intents (invitation_id, state);

-- One row per inviter, locked (an upsert) in the transaction that reserves a place of their quota
-- with a new intent, so that reservations of one inviter take turns across instances.
CREATE TABLE quota_locks (
    tenant_id  TEXT NOT NULL,
    actor_oid  TEXT NOT NULL,
    locked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, actor_oid)
);
