CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
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
    send_email                     BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                        TEXT NOT NULL,
    graph_invitation_id            TEXT NOT NULL DEFAULT '',
    graph_user_id                  TEXT NOT NULL DEFAULT '',
    graph_status                   TEXT NOT NULL DEFAULT '',
    graph_request_id               TEXT NOT NULL DEFAULT '',
    error_code                     TEXT NOT NULL DEFAULT '',
    error_message                  TEXT NOT NULL DEFAULT '',
    redeem_url_sealed              BYTEA,
    external_user_state            TEXT NOT NULL DEFAULT '',
    external_user_state_changed_at TIMESTAMPTZ,
    state_checked_at               TIMESTAMPTZ,
    resend_of                      TEXT NOT NULL DEFAULT '',
    created_at                     TIMESTAMPTZ NOT NULL
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
    token_hash      BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    token_sealed    BYTEA,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    first_opened_at TIMESTAMPTZ,
    last_opened_at  TIMESTAMPTZ,
    open_count      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX join_links_invitation ON join_links (invitation_id, created_at, id);

CREATE TABLE audit_events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at      TIMESTAMPTZ NOT NULL,
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
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
