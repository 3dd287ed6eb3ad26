-- Deadlines: the refresh-token lifetime and absolute session lifetime the admin entered (as
-- configured on the Databricks app connection), when each user's session started, when the
-- credential was last used and refreshed (refresh-ahead for active users, keep-alive for idle
-- ones), and when the user was warned of a coming re-consent.
ALTER TABLE integrations ADD COLUMN refresh_ttl_minutes INTEGER NOT NULL DEFAULT 10080;
ALTER TABLE integrations ADD COLUMN absolute_lifetime_minutes INTEGER;
ALTER TABLE credentials ADD COLUMN session_started_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN last_used_at INTEGER;
ALTER TABLE credentials ADD COLUMN last_refresh_at INTEGER;
ALTER TABLE credentials ADD COLUMN warned_at INTEGER;
