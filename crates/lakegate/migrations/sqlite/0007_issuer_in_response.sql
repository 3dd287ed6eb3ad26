-- RFC 9207: when the authorization server's metadata advertises
-- `authorization_response_iss_parameter_supported`, every callback must carry `iss`; the
-- integration remembers what discovery said (1) so the callback can insist on it.
ALTER TABLE integrations ADD COLUMN issuer_in_response INTEGER NOT NULL DEFAULT 0;
