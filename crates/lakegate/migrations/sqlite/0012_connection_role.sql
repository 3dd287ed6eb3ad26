-- The session role a connection signs in with (Snowflake); NULL: the integration's default.
ALTER TABLE connections ADD COLUMN role TEXT;
