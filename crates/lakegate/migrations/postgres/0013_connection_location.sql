-- Where a connection's queries are processed (BigQuery's job location, e.g. EU or
-- europe-west2); NULL: the warehouse decides (BigQuery: where the data is).
ALTER TABLE connections ADD COLUMN location TEXT;
