//! `POST /token` as Google answers it: client authentication in the body or with Basic,
//! one-time codes ("Bad Request" once used), an hour's opaque access token, the granted
//! scopes, an ID token signed RS256 (with the sign-in's nonce), refresh tokens that never
//! rotate (a refresh answer has none), and RFC 6749 errors — `invalid_grant` "Token has
//! been expired or revoked." and, under session control, `invalid_rapt`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::Tamper;
use super::oauth::{issuer, subject};
use crate::databricks::oauth::form;
use crate::engine::authz::{TokenError, TokenSet};
use crate::engine::token_call;
use crate::state::{Shared, lock};

/// Google keeps this many refresh tokens per account and client; the next drops the oldest.
pub const GRANTS_PER_CLIENT: usize = 100;

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn token_error(e: TokenError) -> Response {
    let (status, code, description) = match e {
        TokenError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d),
        TokenError::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.".into(),
        ),
        // Google says no more about a bad or spent code.
        TokenError::InvalidGrant(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Bad Request".into(),
        ),
        TokenError::DeadRefreshToken => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.".into(),
        ),
        TokenError::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type".into(),
        ),
        TokenError::InvalidScope => (
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Bad Request".into(),
        ),
    };
    error(
        status,
        json!({"error": code, "error_description": description}),
    )
}

/// The client's id and secret: in the body, or HTTP Basic (form-encoded, RFC 6749 §2.3.1).
fn client_credentials(
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let (Some(id), Some(secret)) = (f.get("client_id"), f.get("client_secret")) {
        return Some((id.clone(), secret.clone()));
    }
    token_call::basic(headers, true)
}

pub async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let f = form(&body);
    let grant_type = f.get("grant_type").cloned().unwrap_or_default();
    token_call::run(&s, &grant_type, super::faults::token(&s), || {
        token_inner(&s, &headers, &f, &grant_type)
    })
    .await
}

fn token_inner(
    s: &Shared,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
    grant_type: &str,
) -> Response {
    let Some((client_id, secret)) = client_credentials(headers, f) else {
        return token_error(TokenError::InvalidRequest(
            "Could not determine client ID from request.".into(),
        ));
    };
    let now = s.clock.now();
    let iss = issuer(s);
    let facts = |email: &str| s.user_facts(email);
    let mut o = lock(&s.oauth);
    let app = match o.authenticate_client(&client_id, Some(&secret)) {
        Ok(app) => app.clone(),
        Err(e) => return token_error(e),
    };
    let (set, user, nonce) = match grant_type {
        "authorization_code" => {
            let code = f.get("code").cloned().unwrap_or_default();
            let nonce = lock(&s.google).nonces.remove(&code);
            let set = o.redeem_code(
                &app,
                &code,
                f.get("redirect_uri").map(String::as_str),
                f.get("code_verifier").map(String::as_str),
                now,
                &s.signer,
                &iss,
                facts,
            );
            (set, None, nonce)
        }
        "refresh_token" => {
            let presented = f.get("refresh_token").cloned().unwrap_or_default();
            let user = o.refresh_owner(&presented);
            if user
                .as_ref()
                .is_some_and(|u| lock(&s.google).reauth_required.contains(u))
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant",
                        "error_description": "reauth related error (invalid_rapt)",
                        "error_uri": "https://support.google.com/a/answer/9368756",
                        "error_subtype": "invalid_rapt"}),
                );
            }
            let set = o.refresh(&app, &presented, None, now, &s.signer, &iss, facts);
            (set, user, None)
        }
        _ => return token_error(TokenError::UnsupportedGrantType),
    };
    let mut set = match set {
        Ok(set) => set,
        Err(e) => return token_error(e),
    };
    let email = match user.or_else(|| o.bearer(&set.access_token, now).ok().map(|r| r.user)) {
        Some(e) => e,
        None => return token_error(TokenError::InvalidGrant(String::new())),
    };
    if grant_type == "authorization_code" && set.refresh_token.is_some() {
        o.cap_grants(&app.client_id, &email, GRANTS_PER_CLIENT);
    }
    drop(o);
    if grant_type == "refresh_token" {
        // Not rotated, and not repeated: the client keeps the one it has.
        set.refresh_token = None;
    }
    match answer(s, &app.client_id, &email, set, nonce.as_deref(), now) {
        Ok(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
        Err(e) => token_error(e),
    }
}

/// The token response, with an ID token when `openid` was granted.
fn answer(
    s: &Shared,
    client_id: &str,
    email: &str,
    set: TokenSet,
    nonce: Option<&str>,
    now: i64,
) -> Result<Value, TokenError> {
    let mut body = json!({
        "access_token": set.access_token,
        // Google reports a second less than the hour it grants.
        "expires_in": set.expires_in - 1,
        "scope": set.scope,
        "token_type": "Bearer",
    });
    if let Some(rt) = set.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    if set.scope.split(' ').any(|sc| sc == "openid") {
        let mut claims = json!({
            "iss": issuer(s), "azp": client_id, "aud": client_id,
            "sub": subject(s, email), "iat": now, "exp": now + 3600,
        });
        if set
            .scope
            .split(' ')
            .any(|sc| sc == super::client::USERINFO_EMAIL)
        {
            claims["email"] = json!(email);
            claims["email_verified"] = json!(true);
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let tamper = lock(&s.google).tamper.take();
        match tamper {
            Some(Tamper::WrongAudience) => {
                claims["aud"] = json!("someone-else.apps.googleusercontent.com")
            }
            Some(Tamper::WrongIssuer) => claims["iss"] = json!("https://evil.example"),
            Some(Tamper::Expired) => {
                claims["iat"] = json!(now - 7_200);
                claims["exp"] = json!(now - 3_600);
            }
            Some(Tamper::WrongNonce) => claims["nonce"] = json!("another-sign-in"),
            Some(Tamper::NoNonce) => {
                claims.as_object_mut().map(|c| c.remove("nonce"));
            }
            Some(Tamper::UnverifiedEmail) => claims["email_verified"] = json!(false),
            Some(Tamper::BadSignature) | None => {}
        }
        let mut id_token = s
            .signer
            .sign(&claims)
            .map_err(|_| TokenError::InvalidRequest("signing failed".into()))?;
        if tamper == Some(Tamper::BadSignature) {
            // Another payload under the same signature.
            let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
            let mut forged = claims.clone();
            forged["email"] = json!("mallory@example.com");
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
            id_token = parts.join(".");
        }
        body["id_token"] = json!(id_token);
    }
    Ok(body)
}
