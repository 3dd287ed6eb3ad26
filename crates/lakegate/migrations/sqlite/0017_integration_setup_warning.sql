-- What the last save could not verify about an integration's setup (a redirect URL check
-- that proved nothing, say), shown to admins as a warning; NULL: everything checked.
ALTER TABLE integrations ADD COLUMN setup_warning TEXT;
