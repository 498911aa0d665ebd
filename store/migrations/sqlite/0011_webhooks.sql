-- Webhooks: an outbox. webhooks.Emit writes an event in the transaction of the change it reports
-- (so it is as durable as that change, and never sent for a change that rolled back); the
-- dispatcher fans each event out to the configured endpoints as deliveries, one River job each.
-- Times are unix microseconds in UTC.
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,        -- chosen by the emitter: emitting the same event twice writes it once
    type          TEXT NOT NULL,           -- invitation.created, invitation.accepted, ...
    created_at    INTEGER NOT NULL,
    payload       TEXT NOT NULL,           -- the JSON body, byte for byte as every endpoint receives it
    dispatched_at INTEGER                       -- set once its deliveries exist
);
CREATE INDEX webhook_events_due ON webhook_events (created_at) WHERE dispatched_at IS NULL;

-- One delivery per (event, endpoint): at most once per endpoint, however often it is emitted or dispatched.
CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY,
    event_id      TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint      TEXT NOT NULL,           -- the receiver's URL
    state         TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_status   INTEGER NOT NULL DEFAULT 0, -- the receiver's last HTTP status (0: no answer)
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (created_at, id);
