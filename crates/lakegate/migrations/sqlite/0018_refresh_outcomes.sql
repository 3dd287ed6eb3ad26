-- Token refresh outcomes per org and hour, written by whichever replica refreshed, so the
-- admins' health view shows every replica's refreshes over days (the Prometheus counter is
-- per process since it started).
CREATE TABLE refresh_outcomes (
    org_id   TEXT NOT NULL,
    hour     INTEGER NOT NULL,
    outcome  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (org_id, hour, outcome)
);
