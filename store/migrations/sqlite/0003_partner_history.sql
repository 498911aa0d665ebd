-- One record per partner: "Send again" updates the record in place (sent_at is the latest send) and
-- appends to invitation_events instead of creating a second record pointing back through resend_of.

-- NULL: the first send (created_at) is the latest; rows written without it stay correct.
ALTER TABLE invitations ADD COLUMN sent_at INTEGER;

-- Records of earlier builds that a resend by the same inviter replaced: hidden from the lists, shown in
-- the history of the record that replaced them. A created resend replaces the record it points at; a
-- failed resend is folded into the record it tried to replace.
ALTER TABLE invitations ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
CREATE INDEX invitations_resend_of ON invitations (resend_of);
UPDATE invitations SET replaced_by = COALESCE((
    SELECT r.id FROM invitations r
    WHERE r.resend_of = invitations.id AND r.tenant_id = invitations.tenant_id
      AND r.inviter_oid = invitations.inviter_oid AND r.outcome = 'created'
    ORDER BY r.created_at DESC, r.id DESC LIMIT 1), '')
WHERE id IN (SELECT resend_of FROM invitations WHERE resend_of <> '');
UPDATE invitations SET replaced_by = resend_of
WHERE resend_of <> '' AND replaced_by = '' AND outcome <> 'created'
  AND EXISTS (SELECT 1 FROM invitations o WHERE o.id = invitations.resend_of AND o.inviter_oid = invitations.inviter_oid);

-- Why a join link stopped working: '' (revoked by the inviter) or 'superseded' (a newer send or link).
ALTER TABLE join_links ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';
UPDATE join_links SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000, revoke_reason = 'superseded'
WHERE revoked_at IS NULL AND invitation_id IN (SELECT id FROM invitations WHERE replaced_by <> '');

-- What happened to one partner record, written in the same transaction as the change it describes.
CREATE TABLE invitation_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    invitation_id    TEXT NOT NULL REFERENCES invitations (id),
    occurred_at      INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    actor_oid        TEXT NOT NULL DEFAULT '',
    actor_name       TEXT NOT NULL DEFAULT '',
    outcome          TEXT NOT NULL DEFAULT '',
    graph_request_id TEXT NOT NULL DEFAULT '',
    note             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX invitation_events_invitation ON invitation_events (invitation_id, occurred_at, id);

INSERT INTO invitation_events (invitation_id, occurred_at, kind, actor_oid, actor_name, outcome, graph_request_id)
SELECT id, created_at, CASE WHEN resend_of = '' THEN 'sent' ELSE 'resent' END, inviter_oid, inviter_name, outcome, graph_request_id
FROM invitations ORDER BY created_at, id;
