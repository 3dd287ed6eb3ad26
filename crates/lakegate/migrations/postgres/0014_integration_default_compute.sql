-- The compute connections start with unless they name one (BigQuery: the default billing
-- project); NULL: none.
ALTER TABLE integrations ADD COLUMN default_compute TEXT;
