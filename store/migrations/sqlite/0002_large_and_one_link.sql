-- Audit filters: one index per filter the page offers, each ending in the sort key (occurred_at, id),
-- so a filtered page is a short walk down one index, newest first.
CREATE INDEX audit_events_action ON audit_events (action, occurred_at, id);
CREATE INDEX audit_events_outcome ON audit_events (outcome, occurred_at, id);
CREATE INDEX audit_events_action_outcome ON audit_events (action, outcome, occurred_at, id);

-- "My invitations" filtered by state.
CREATE INDEX invitations_inviter_state ON invitations (tenant_id, inviter_oid, external_user_state, created_at, id);

-- Only one join link per invitation may be active. Parallel "New join link" requests could leave
-- several: keep the newest and revoke the others, then let the database refuse a second one.
UPDATE join_links SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000
WHERE revoked_at IS NULL AND EXISTS (
    SELECT 1 FROM join_links newer
    WHERE newer.invitation_id = join_links.invitation_id AND newer.revoked_at IS NULL
      AND (newer.created_at, newer.id) > (join_links.created_at, join_links.id));
CREATE UNIQUE INDEX join_links_one_active ON join_links (invitation_id) WHERE revoked_at IS NULL;
