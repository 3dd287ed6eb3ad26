-- Webhooks: an org's endpoints (the signing secret sealed with the org's data key) and the
-- outbox of deliveries, written in the same transaction as the audit event they announce.
-- Any replica delivers a due delivery under a lease; a failed one waits for a replay.
CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    -- Comma-separated event types, each also wrapped in commas for exact matching.
    events       TEXT NOT NULL,
    secret_enc   BYTEA NOT NULL,
    enabled      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints(org_id);

CREATE TABLE webhook_deliveries (
    -- The message id: the same for every endpoint and every attempt (webhook-id).
    message_id      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- pending, delivered or failed
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries(endpoint_id, created_at);
