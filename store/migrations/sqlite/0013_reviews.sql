-- Sponsor reviews (PORTICO_REVIEW_EVERY): one row per guest and round. A guest Portico invited
-- that accepted has at most one round that is not finished (scheduled or open); (invitation_id,
-- round) is unique, so two sweeps, on any instance, create a round once. Times are INTEGER unix
-- microseconds in UTC. state moves only by compare-and-set:
-- scheduled → open (due: reviewers told) → kept (next round scheduled in the same transaction)
--                                        → removing (a reviewer said remove, or no answer by grace_until)
--                                          → removed (disabled or deleted) | reported (policy report) | failed
CREATE TABLE guest_reviews (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    invitation_id    TEXT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    guest_oid        TEXT NOT NULL,
    round            INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('scheduled', 'open', 'kept', 'removing', 'removed', 'reported', 'failed')),
    due_at           INTEGER NOT NULL,
    grace_until      INTEGER NOT NULL,
    decision         TEXT NOT NULL DEFAULT '' CHECK (decision IN ('', 'keep', 'remove', 'no_answer')),
    reason           TEXT NOT NULL DEFAULT '',
    decided_by_oid   TEXT NOT NULL DEFAULT '',
    decided_by_upn   TEXT NOT NULL DEFAULT '',
    decided_by_name  TEXT NOT NULL DEFAULT '',
    decided_at       INTEGER,
    action           TEXT NOT NULL DEFAULT '' CHECK (action IN ('', 'report', 'disable', 'delete')),
    action_why       TEXT NOT NULL DEFAULT '',
    action_attempts  INTEGER NOT NULL DEFAULT 0,
    action_lease     INTEGER,
    action_error     TEXT NOT NULL DEFAULT '',
    graph_request_id TEXT NOT NULL DEFAULT '',
    acted_at         INTEGER,
    warned_at        INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (invitation_id, round)
);
CREATE INDEX guest_reviews_state ON guest_reviews (state, due_at);
CREATE INDEX guest_reviews_tenant ON guest_reviews (tenant_id, state);
-- At most one unfinished round per guest.
CREATE UNIQUE INDEX guest_reviews_current ON guest_reviews (invitation_id) WHERE state IN ('scheduled', 'open', 'removing');

-- Who reviews a round: the inviter, the sponsors named with the invitation and, where Graph has
-- them, the guest's sponsors; fixed when the round opens. Only they may decide it.
CREATE TABLE guest_review_reviewers (
    review_id    TEXT NOT NULL REFERENCES guest_reviews (id) ON DELETE CASCADE,
    reviewer_oid TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (review_id, reviewer_oid)
);
CREATE INDEX guest_review_reviewers_oid ON guest_review_reviewers (reviewer_oid);
