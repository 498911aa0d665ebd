-- Times are INTEGER unix microseconds in UTC, so they order numerically.

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE invitations (
    id                             TEXT PRIMARY KEY,
    tenant_id                      TEXT NOT NULL,
    inviter_oid                    TEXT NOT NULL,
    inviter_upn                    TEXT NOT NULL DEFAULT '',
    inviter_name                   TEXT NOT NULL DEFAULT '',
    email                          TEXT NOT NULL,
    display_name                   TEXT NOT NULL DEFAULT '',
    message                        TEXT NOT NULL DEFAULT '',
    cc_address                     TEXT NOT NULL DEFAULT '',
    cc_name                        TEXT NOT NULL DEFAULT '',
    language                       TEXT NOT NULL DEFAULT '',
    redirect_url                   TEXT NOT NULL DEFAULT '',
    user_type                      TEXT NOT NULL DEFAULT '',
    send_email                     INTEGER NOT NULL DEFAULT 0 CHECK (send_email IN (0, 1)),
    outcome                        TEXT NOT NULL,
    graph_invitation_id            TEXT NOT NULL DEFAULT '',
    graph_user_id                  TEXT NOT NULL DEFAULT '',
    graph_status                   TEXT NOT NULL DEFAULT '',
    graph_request_id               TEXT NOT NULL DEFAULT '',
    error_code                     TEXT NOT NULL DEFAULT '',
    error_message                  TEXT NOT NULL DEFAULT '',
    redeem_url_sealed              BLOB,
    external_user_state            TEXT NOT NULL DEFAULT '',
    external_user_state_changed_at INTEGER,
    state_checked_at               INTEGER,
    resend_of                      TEXT NOT NULL DEFAULT '',
    created_at                     INTEGER NOT NULL
);
CREATE INDEX invitations_inviter_created ON invitations (tenant_id, inviter_oid, created_at, id);
CREATE INDEX invitations_tenant_created ON invitations (tenant_id, created_at, id);
CREATE INDEX invitations_tenant_email ON invitations (tenant_id, email, created_at, id);
CREATE INDEX invitations_tenant_state ON invitations (tenant_id, external_user_state, created_at, id);
CREATE INDEX invitations_graph_user ON invitations (tenant_id, graph_user_id, created_at, id);

CREATE TABLE join_links (
    id              TEXT PRIMARY KEY,
    invitation_id   TEXT NOT NULL REFERENCES invitations (id),
    -- SHA-256 of the token: the token itself is never stored in clear.
    token_hash      BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    token_sealed    BLOB,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    first_opened_at INTEGER,
    last_opened_at  INTEGER,
    open_count      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX join_links_invitation ON join_links (invitation_id, created_at, id);

CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at      INTEGER NOT NULL,
    actor_tid        TEXT NOT NULL DEFAULT '',
    actor_oid        TEXT NOT NULL DEFAULT '',
    actor_upn        TEXT NOT NULL DEFAULT '',
    action           TEXT NOT NULL,
    target           TEXT NOT NULL DEFAULT '',
    outcome          TEXT NOT NULL DEFAULT '',
    detail           TEXT NOT NULL DEFAULT '',
    graph_request_id TEXT NOT NULL DEFAULT '',
    client_ip        TEXT NOT NULL DEFAULT '',
    request_id       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at, id);
CREATE INDEX audit_events_actor_oid ON audit_events (actor_oid, occurred_at, id);
CREATE INDEX audit_events_actor_upn ON audit_events (lower(actor_upn), occurred_at, id);
CREATE INDEX audit_events_target ON audit_events (lower(target), occurred_at, id);

-- The audit trail is append-only, enforced by the database and not only by the absence of code.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
