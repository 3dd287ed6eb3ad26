-- Connections (configuration), credentials (one per connection and user, tokens encrypted),
-- sign-in tickets and OAuth flows (held in the store so any replica can finish a flow).

CREATE TABLE connections (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    owner_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    auth            TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    host            TEXT NOT NULL,
    warehouse_id    TEXT,
    catalog         TEXT,
    schema_name     TEXT,
    shared          BIGINT NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX connections_org_idx ON connections(org_id);

CREATE TABLE credentials (
    id                      TEXT PRIMARY KEY,
    connection_id           TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    user_id                 TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id                  TEXT NOT NULL,
    integration_id          TEXT NOT NULL,
    integration_generation  BIGINT NOT NULL,
    host                    TEXT NOT NULL,
    access_token_enc        BYTEA NOT NULL,
    refresh_token_enc       BYTEA NOT NULL,
    scopes                  TEXT NOT NULL,
    databricks_user_id      TEXT NOT NULL,
    databricks_user_name    TEXT NOT NULL,
    access_expires_at       BIGINT NOT NULL,
    refresh_issued_at       BIGINT NOT NULL,
    status                  TEXT NOT NULL,
    status_reason           TEXT,
    version                 BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    CONSTRAINT credentials_connection_user_key UNIQUE (connection_id, user_id)
);

CREATE TABLE sign_in_tickets (
    ticket_hash     TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    return_path     TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);

CREATE TABLE oauth_flows (
    state_hash              TEXT PRIMARY KEY,
    browser_hash            TEXT NOT NULL,
    user_id                 TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id                  TEXT NOT NULL,
    connection_id           TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    integration_id          TEXT NOT NULL,
    integration_generation  BIGINT NOT NULL,
    issuer                  TEXT NOT NULL,
    token_endpoint          TEXT NOT NULL,
    verifier_enc            BYTEA NOT NULL,
    return_path             TEXT NOT NULL,
    expires_at              BIGINT NOT NULL,
    created_at              BIGINT NOT NULL
);
