-- Queries run through Lakegate: the mapping from Lakegate's query id to Databricks'
-- statement id (so any replica can poll, fetch or cancel an asynchronous query) and each
-- user's query history. Parameter values are never stored; the statement text is the
-- user's own and shown only to them.
CREATE TABLE queries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id   TEXT NOT NULL,
    statement_id    TEXT NOT NULL,
    statement       TEXT NOT NULL,
    state           TEXT NOT NULL,
    row_limit       BIGINT,
    timeout_seconds BIGINT NOT NULL,
    submitted_at    BIGINT NOT NULL,
    finished_at     BIGINT,
    row_count       BIGINT,
    error_code      TEXT,
    error_message   TEXT
);
CREATE INDEX queries_user_idx ON queries(user_id, submitted_at);
CREATE INDEX queries_unfinished_idx ON queries(submitted_at) WHERE finished_at IS NULL;
