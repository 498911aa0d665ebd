-- The tenant's initial (*.onmicrosoft.com) domain as last read from Graph. Entra never changes it, so
-- after a restart the first directory check can send its identities query without waiting for
-- GET /organization.
CREATE TABLE tenant_domains (
    tenant_id      TEXT PRIMARY KEY,
    initial_domain TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
