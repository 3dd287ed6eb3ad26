-- Counts for limits every replica shares (login attempts per IP, failed logins per account,
-- vended tokens per user): one row per key and fixed window, added to by any replica.
CREATE TABLE rate_counts (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
