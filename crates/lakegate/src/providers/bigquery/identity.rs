//! Who signed in with Google, and whether they allowed BigQuery: the granted `scope` must
//! hold the BigQuery scope (granular consent lets a user untick it), and the ID token must
//! be signed by a key Google publishes, name Google as issuer and this client as audience,
//! be unexpired and carry this sign-in's nonce. `sub` is the stable identity, `email` its
//! name.

use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::google::{Google, ISSUER};
use super::scopes::BIGQUERY;
use crate::crypto::random;
use crate::egress::{self, Egress};
use crate::providers::SignInRefused;
use crate::providers::oauth::Tokens;
use crate::sso::id_token::{self, Expected, Refused};
use crate::store::IntegrationRow;
use crate::warehouse::Identity;

/// Whether a granted scope string allows BigQuery.
pub fn allows_bigquery(granted: Option<&str>) -> bool {
    granted.is_some_and(|g| g.split_whitespace().any(|s| s == BIGQUERY))
}

async fn keys(egress: &Egress, google: &Google) -> Result<JwkSet, SignInRefused> {
    let url = Url::parse(&google.jwks).map_err(|_| SignInRefused::IdentityFailed)?;
    let resp = egress
        .send(egress::Request {
            max_bytes: 256 * 1024,
            ..egress::Request::get(&url)
        })
        .await
        .map_err(|_| SignInRefused::IdentityFailed)?;
    if resp.status != 200 {
        return Err(SignInRefused::IdentityFailed);
    }
    serde_json::from_slice(&resp.body).map_err(|_| SignInRefused::IdentityFailed)
}

/// Checks a sign-in's tokens and names who signed in.
pub async fn signed_in(
    egress: &Egress,
    integration: &IntegrationRow,
    tokens: &Tokens,
    nonce: &str,
    now: i64,
) -> Result<Identity, SignInRefused> {
    if !allows_bigquery(tokens.scope.as_deref()) {
        return Err(SignInRefused::ScopeNotGranted);
    }
    let id_token = tokens
        .id_token
        .as_ref()
        .ok_or(SignInRefused::IdToken("missing"))?;
    let google = Google::for_issuer(&integration.issuer);
    let keys = keys(egress, &google).await?;
    let nonce_hash = random::token_hash(nonce);
    let expected = |issuer: &'static str| Expected {
        issuer,
        client_id: &integration.client_id,
        nonce_hash: &nonce_hash,
        now,
        allowed_domains: None,
    };
    let issuer: &str = &google.issuer;
    let mut checked = id_token::verify(
        id_token.expose(),
        &keys,
        &Expected {
            issuer,
            ..expected("")
        },
    );
    // Google's ID tokens name their issuer with or without the scheme.
    if checked == Err(Refused::Issuer) && google.issuer == ISSUER {
        checked = id_token::verify(id_token.expose(), &keys, &expected("accounts.google.com"));
    }
    let who = checked.map_err(|r| SignInRefused::IdToken(r.code()))?;
    Ok(Identity {
        id: who.subject,
        display_name: who.name.unwrap_or_else(|| who.email.clone()),
        user_name: who.email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigquery_must_be_among_the_granted_scopes() {
        assert!(allows_bigquery(Some(
            "openid https://www.googleapis.com/auth/bigquery"
        )));
        assert!(!allows_bigquery(Some(
            "openid https://www.googleapis.com/auth/userinfo.email"
        )));
        assert!(!allows_bigquery(Some(
            "https://www.googleapis.com/auth/bigquery.readonly"
        )));
        assert!(!allows_bigquery(None));
    }
}
