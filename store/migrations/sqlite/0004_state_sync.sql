-- The background state sync reads pending partners, never-checked first (SQLite sorts NULL first),
-- then least recently checked.
CREATE INDEX invitations_state_sync ON invitations (state_checked_at, created_at, id)
WHERE outcome = 'created' AND graph_user_id <> '' AND replaced_by = '' AND external_user_state <> 'Accepted';
