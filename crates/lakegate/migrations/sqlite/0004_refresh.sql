-- Token refresh across replicas: a compare-and-set lease per credential, and the
-- backoff state of transient failures.
ALTER TABLE credentials ADD COLUMN lease_owner TEXT;
ALTER TABLE credentials ADD COLUMN lease_until INTEGER;
ALTER TABLE credentials ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN next_attempt_at INTEGER;
CREATE INDEX credentials_due_idx ON credentials(status, access_expires_at);
