-- End users a platform knows by its own id (`PUT /api/v1/users/by-external-id/{id}`): unique
-- within an org; people created in Lakegate have none.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_external_id_idx ON users(org_id, external_id);
