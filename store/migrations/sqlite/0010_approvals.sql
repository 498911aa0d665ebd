-- Requests that policy sends to an approver instead of refusing (PORTICO_APPROVAL). The validated
-- request is frozen in request_json: what is approved is exactly what is sent. Times are INTEGER
-- unix microseconds in UTC. state moves only by compare-and-set (UPDATE ... WHERE state = ?):
-- pending → approving (an approver claimed it and is sending) → approved, or back to pending when
-- the send did not happen; pending → denied | cancelled | expired.
CREATE TABLE approval_requests (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    requester_oid   TEXT NOT NULL,
    requester_upn   TEXT NOT NULL DEFAULT '',
    requester_name  TEXT NOT NULL DEFAULT '',
    requester_email TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL,
    request_json    TEXT NOT NULL,
    reasons_json    TEXT NOT NULL,
    assigned_oid    TEXT NOT NULL DEFAULT '',
    assigned_name   TEXT NOT NULL DEFAULT '',
    assigned_email  TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('pending', 'approving', 'approved', 'denied', 'expired', 'cancelled')),
    decided_by_oid  TEXT NOT NULL DEFAULT '',
    decided_by_upn  TEXT NOT NULL DEFAULT '',
    decided_by_name TEXT NOT NULL DEFAULT '',
    decision_reason TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    invitation_id   TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    claimed_at      INTEGER,
    decided_at      INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX approval_requests_tenant_state ON approval_requests (tenant_id, state, created_at, id);
CREATE INDEX approval_requests_requester ON approval_requests (tenant_id, requester_oid, created_at, id);
CREATE INDEX approval_requests_due ON approval_requests (state, expires_at);
-- One open request per requester and address: a double submit, on any instance, finds the first.
CREATE UNIQUE INDEX approval_requests_open ON approval_requests (tenant_id, requester_oid, email)
    WHERE state IN ('pending', 'approving');
