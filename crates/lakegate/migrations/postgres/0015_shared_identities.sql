-- Shared identities (Databricks OAuth M2M and personal access tokens): such a connection
-- holds its own client (a service principal's id and secret, or nothing for a token) as an
-- integration row that belongs to the connection and goes with it. Org integrations stay
-- one per (org, kind); a connection's own is one per connection.
ALTER TABLE integrations ADD COLUMN connection_id TEXT REFERENCES connections(id) ON DELETE CASCADE;
ALTER TABLE integrations DROP CONSTRAINT integrations_org_kind_key;
CREATE UNIQUE INDEX integrations_org_kind_key ON integrations(org_id, kind) WHERE connection_id IS NULL;
CREATE UNIQUE INDEX integrations_connection_key ON integrations(connection_id) WHERE connection_id IS NOT NULL;

-- Token vending from a shared identity is off until an administrator turns it on.
ALTER TABLE connections ADD COLUMN token_vending BIGINT NOT NULL DEFAULT 0 CHECK (token_vending IN (0, 1));
-- The shared identity (an M2M connection of the same workspace) a query or vend request
-- may run as when it says `allow_fallback` and the caller cannot.
ALTER TABLE connections ADD COLUMN fallback_connection_id TEXT REFERENCES connections(id) ON DELETE SET NULL;

-- The credential a query ran on (NULL: the caller's own on its connection): the owner's
-- on a shared identity, or the fallback's.
ALTER TABLE queries ADD COLUMN ran_as_connection_id TEXT;
ALTER TABLE queries ADD COLUMN ran_as_user_id TEXT;
