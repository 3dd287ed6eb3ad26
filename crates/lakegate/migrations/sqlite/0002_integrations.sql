-- Per-org data keys (wrapped by the master key) and the Databricks OAuth U2M integration.

CREATE TABLE org_data_keys (
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, key_id)
);

-- One row per (org, kind). `generation` grows whenever the host or the client id change:
-- credentials remember the generation they were issued under and are void after a change.
CREATE TABLE integrations (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind                    TEXT NOT NULL,
    host                    TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    client_secret_enc       BLOB NOT NULL,
    scopes                  TEXT NOT NULL,
    issuer                  TEXT NOT NULL,
    authorization_endpoint  TEXT NOT NULL,
    token_endpoint          TEXT NOT NULL,
    generation              INTEGER NOT NULL,
    status                  TEXT NOT NULL,
    secret_updated_at       INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    updated_by              TEXT NOT NULL,
    CONSTRAINT integrations_org_kind_key UNIQUE (org_id, kind)
);
