-- Sponsors chosen when an invitation was sent (Graph's invitedUserSponsors), in the order given;
-- "Sponsored by me" reads them by sponsor.
CREATE TABLE invitation_sponsors (
    invitation_id TEXT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    sponsor_oid   TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (invitation_id, sponsor_oid)
);
CREATE INDEX invitation_sponsors_sponsor ON invitation_sponsors (sponsor_oid);

-- Groups (and teams) the guest is added to after the invitation, one row per group: written pending
-- in the same transaction as the invitation record, so a restart before the add loses nothing;
-- then added or failed (with Graph's answer). lease_until keeps one worker on a row at a time.
CREATE TABLE invitation_groups (
    invitation_id    TEXT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    group_id         TEXT NOT NULL,
    group_name       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    error_code       TEXT NOT NULL DEFAULT '',
    error_message    TEXT NOT NULL DEFAULT '',
    graph_request_id TEXT NOT NULL DEFAULT '',
    added_by         TEXT NOT NULL DEFAULT '',
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (invitation_id, group_id),
    CHECK (status IN ('pending', 'added', 'failed'))
);
CREATE INDEX invitation_groups_due ON invitation_groups (next_attempt_at) WHERE status = 'pending';
