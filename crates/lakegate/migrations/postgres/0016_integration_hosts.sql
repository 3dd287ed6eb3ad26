-- Several workspaces per app connection: one Databricks app connection serves every
-- workspace of its account. The integration's own host is the first; these are the others
-- the admin added, each with the endpoints its discovery answered. A token and the client
-- secret only ever go to a host on this list (or the first).
CREATE TABLE integration_hosts (
    integration_id          TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    host                    TEXT NOT NULL,
    issuer                  TEXT NOT NULL,
    authorization_endpoint  TEXT NOT NULL,
    token_endpoint          TEXT NOT NULL,
    issuer_in_response      BIGINT NOT NULL DEFAULT 0,
    added_at                BIGINT NOT NULL,
    added_by                TEXT NOT NULL,
    PRIMARY KEY (integration_id, host)
);
