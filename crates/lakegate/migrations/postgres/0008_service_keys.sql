-- Service keys: an org's credentials for a platform's backend, which acts for the org's users
-- (`Lakegate-User`). Stored under the SHA-256 of the key, like API tokens.
CREATE TABLE service_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX service_keys_org_idx ON service_keys(org_id);
