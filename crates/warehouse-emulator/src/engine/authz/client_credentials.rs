//! Access tokens for a client acting as itself (the `client_credentials` grant): no user,
//! no refresh token, no family — a new grant each time, as Databricks issues M2M tokens.

use serde_json::json;

use super::{AccessRecord, OAuthState, TokenError, TokenSet, random_id};
use crate::engine::jwt::Signer;

impl OAuthState {
    /// A JWT access token for `subject` (a service principal's application id) with
    /// `scopes`, valid `ttl` seconds from `now`.
    pub fn issue_service_token(
        &mut self,
        subject: &str,
        scopes: &[String],
        ttl: i64,
        now: i64,
        signer: &Signer,
        issuer: &str,
    ) -> Result<TokenSet, TokenError> {
        let scope = scopes.join(" ");
        let claims = json!({
            "iss": issuer, "sub": subject, "aud": subject, "client_id": subject,
            "iat": now, "exp": now + ttl, "jti": random_id(16), "scope": scope,
        });
        let access_token = signer
            .sign(&claims)
            .map_err(|_| TokenError::InvalidRequest("signing failed".into()))?;
        self.access.insert(
            access_token.clone(),
            AccessRecord {
                user: subject.to_owned(),
                scopes: scopes.to_vec(),
                client_id: subject.to_owned(),
                expires_at: now + ttl,
                family: None,
            },
        );
        Ok(TokenSet {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
            refresh_token: None,
            id_token: None,
        })
    }
}
