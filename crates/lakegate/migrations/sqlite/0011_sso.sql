-- Single sign-on: one OpenID Connect provider per org, the people it signed in (matched by
-- the provider's subject), and the sign-ins in flight (single use, bound to a browser).
CREATE TABLE org_sso (
    org_id                  TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    issuer                  TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    client_secret_enc       BLOB NOT NULL,
    authorization_endpoint  TEXT NOT NULL,
    token_endpoint          TEXT NOT NULL,
    jwks_uri                TEXT NOT NULL,
    allowed_domains         TEXT NOT NULL,
    default_role            TEXT NOT NULL CHECK (default_role IN ('admin', 'editor', 'viewer')),
    password_sign_in        INTEGER NOT NULL DEFAULT 1 CHECK (password_sign_in IN (0, 1)),
    updated_at              INTEGER NOT NULL,
    updated_by              TEXT NOT NULL
);

ALTER TABLE users ADD COLUMN sso_subject TEXT;
CREATE UNIQUE INDEX users_sso_subject_idx ON users(org_id, sso_subject);

CREATE TABLE sso_flows (
    state_hash      TEXT PRIMARY KEY,
    browser_hash    TEXT NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    nonce_hash      TEXT NOT NULL,
    verifier_enc    BLOB NOT NULL,
    next_path       TEXT NOT NULL,
    expires_at      INTEGER NOT NULL
);
