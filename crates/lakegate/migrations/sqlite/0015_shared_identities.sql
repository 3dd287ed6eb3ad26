-- Shared identities (Databricks OAuth M2M and personal access tokens): such a connection
-- holds its own client (a service principal's id and secret, or nothing for a token) as an
-- integration row that belongs to the connection and goes with it. Org integrations stay
-- one per (org, kind); a connection's own is one per connection. SQLite cannot drop a table
-- constraint, so the table is rebuilt (nothing references it by foreign key).
CREATE TABLE integrations_next (
    id                          TEXT PRIMARY KEY,
    org_id                      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind                        TEXT NOT NULL,
    host                        TEXT NOT NULL,
    client_id                   TEXT NOT NULL,
    client_secret_enc           BLOB NOT NULL,
    scopes                      TEXT NOT NULL,
    issuer                      TEXT NOT NULL,
    authorization_endpoint      TEXT NOT NULL,
    token_endpoint              TEXT NOT NULL,
    generation                  INTEGER NOT NULL,
    status                      TEXT NOT NULL,
    secret_updated_at           INTEGER NOT NULL,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    updated_by                  TEXT NOT NULL,
    refresh_ttl_minutes         INTEGER NOT NULL DEFAULT 10080,
    absolute_lifetime_minutes   INTEGER,
    issuer_in_response          INTEGER NOT NULL DEFAULT 0,
    default_compute             TEXT,
    connection_id               TEXT REFERENCES connections(id) ON DELETE CASCADE
);
INSERT INTO integrations_next (id, org_id, kind, host, client_id, client_secret_enc, scopes, issuer,
    authorization_endpoint, token_endpoint, generation, status, secret_updated_at, created_at, updated_at,
    updated_by, refresh_ttl_minutes, absolute_lifetime_minutes, issuer_in_response, default_compute)
SELECT id, org_id, kind, host, client_id, client_secret_enc, scopes, issuer,
    authorization_endpoint, token_endpoint, generation, status, secret_updated_at, created_at, updated_at,
    updated_by, refresh_ttl_minutes, absolute_lifetime_minutes, issuer_in_response, default_compute
FROM integrations;
DROP TABLE integrations;
ALTER TABLE integrations_next RENAME TO integrations;
CREATE UNIQUE INDEX integrations_org_kind_key ON integrations(org_id, kind) WHERE connection_id IS NULL;
CREATE UNIQUE INDEX integrations_connection_key ON integrations(connection_id) WHERE connection_id IS NOT NULL;

-- Token vending from a shared identity is off until an administrator turns it on.
ALTER TABLE connections ADD COLUMN token_vending INTEGER NOT NULL DEFAULT 0 CHECK (token_vending IN (0, 1));
-- The shared identity (an M2M connection of the same workspace) a query or vend request
-- may run as when it says `allow_fallback` and the caller cannot.
ALTER TABLE connections ADD COLUMN fallback_connection_id TEXT REFERENCES connections(id) ON DELETE SET NULL;

-- The credential a query ran on (NULL: the caller's own on its connection): the owner's
-- on a shared identity, or the fallback's.
ALTER TABLE queries ADD COLUMN ran_as_connection_id TEXT;
ALTER TABLE queries ADD COLUMN ran_as_user_id TEXT;
