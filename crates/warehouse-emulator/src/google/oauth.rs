//! Google's authorization side: discovery and keys, `/o/oauth2/v2/auth` (exact redirect
//! matching, `offline_access` refused, PKCE S256 or plain), sign-in, granular consent,
//! `/revoke` and `/v1/userinfo`. Requests it cannot trust with a redirect end on Google's
//! error page.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::client::{self, is_sign_in, normalise};
use super::{Pending, pages};
use crate::databricks::oauth::{form, signed_in};
use crate::engine::authz::{random_id, s256};
use crate::state::{Shared, lock};

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/v3/certs", get(certs))
        .route("/o/oauth2/v2/auth", get(authorize))
        .route("/o/oauth2/v2/auth/login", post(login))
        .route("/o/oauth2/v2/auth/consent", post(consent))
        .route("/token", post(super::token::token))
        .route("/revoke", post(revoke))
        .route("/v1/userinfo", get(userinfo))
}

/// The issuer Google's ID tokens name (here: the emulator's base URL).
pub fn issuer(s: &Shared) -> String {
    s.base_url.clone()
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let b = &s.base_url;
    axum::Json(json!({
        "issuer": issuer(&s),
        "authorization_endpoint": format!("{b}/o/oauth2/v2/auth"),
        "device_authorization_endpoint": format!("{b}/device/code"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/v1/userinfo"),
        "revocation_endpoint": format!("{b}/revoke"),
        "jwks_uri": format!("{b}/oauth2/v3/certs"),
        "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }))
    .into_response()
}

async fn certs(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.signer.jwks()).into_response()
}

fn refuse(status: u16, code: &str, detail: &str) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status_code, Html(pages::error(status, code, detail))).into_response()
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str);
    let client_id = param("client_id").unwrap_or_default();
    let Some(app) = lock(&s.oauth).apps.get(client_id).cloned() else {
        return refuse(401, "invalid_client", "The OAuth client was not found.");
    };
    let redirect_uri = param("redirect_uri").unwrap_or_default();
    // Exact: scheme, host, port, path, trailing slash. Never a redirect on mismatch.
    if !app.redirect_urls.iter().any(|r| r == redirect_uri) {
        return refuse(
            400,
            "redirect_uri_mismatch",
            &format!(
                "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. If you're the app developer, register the redirect URI in the Google Cloud Console. Request details: redirect_uri={redirect_uri}"
            ),
        );
    }
    if param("response_type") != Some("code") {
        return refuse(
            400,
            "unsupported_response_type",
            "Only response_type=code is emulated.",
        );
    }
    let raw_scopes: Vec<&str> = param("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
        .collect();
    if raw_scopes.is_empty() {
        return refuse(400, "invalid_request", "Missing required parameter: scope");
    }
    let invalid: Vec<&str> = raw_scopes
        .iter()
        .copied()
        .filter(|t| normalise(t).is_none())
        .collect();
    if !invalid.is_empty() {
        return refuse(
            400,
            "invalid_scope",
            &format!(
                "Some requested scopes were invalid. {{invalid=[{}]}}",
                invalid.join(", ")
            ),
        );
    }
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_owned(),
        // Google's default method is plain when a challenge is sent.
        (Some(c), None | Some("plain")) if (43..=128).contains(&c.len()) => s256(c),
        (None, None) => String::new(),
        _ => {
            return refuse(
                400,
                "invalid_request",
                "Invalid code_challenge_method or code_challenge.",
            );
        }
    };
    let prompt = param("prompt").unwrap_or_default();
    let pending = Pending {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes: raw_scopes
            .iter()
            .filter_map(|t| normalise(t))
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        state: param("state").map(str::to_owned),
        nonce: param("nonce").map(str::to_owned),
        challenge,
        offline: param("access_type") == Some("offline"),
        prompt_consent: prompt.split(' ').any(|p| p == "consent"),
        include_granted_scopes: param("include_granted_scopes") == Some("true"),
        user: None,
        expires_at: s.clock.now() + 600,
    };
    let id = random_id(16);
    lock(&s.google).pending.insert(id.clone(), pending);
    Html(pages::login(&id, None)).into_response()
}

fn pending(s: &Shared, id: &str) -> Option<Pending> {
    let now = s.clock.now();
    let mut g = lock(&s.google);
    g.pending.retain(|_, p| p.expires_at > now);
    g.pending.get(id).cloned()
}

const EXPIRED: &str = "The sign-in request expired. Start again from the application.";

async fn login(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let f = form(&body);
    let id = f.get("request").cloned().unwrap_or_default();
    let Some(p) = pending(&s, &id) else {
        return refuse(400, "invalid_request", EXPIRED);
    };
    let Some(email) = signed_in(&s, &f) else {
        let page = pages::login(&id, Some("Wrong password. Try again."));
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    };
    let key = (email.clone(), p.client_id.clone());
    let mut g = lock(&s.google);
    if let Some(entry) = g.pending.get_mut(&id) {
        entry.user = Some(email.clone());
    }
    let before = g.granted.get(&key).cloned().unwrap_or_default();
    drop(g);
    // The consent screen shows again only for scopes not granted yet, or when asked to.
    let all_granted = p.scopes.iter().all(|sc| before.contains(sc));
    if (all_granted && !p.prompt_consent) || s.config.auto_approve {
        let granted: Vec<String> = p.scopes.clone();
        return finish(&s, &id, Some(granted), !all_granted || p.prompt_consent);
    }
    let boxes: Vec<(&str, &str)> = client::KNOWN
        .iter()
        .filter(|(sc, _)| !is_sign_in(sc) && p.scopes.iter().any(|x| x == sc))
        .copied()
        .collect();
    Html(pages::consent(&id, &email, &boxes)).into_response()
}

async fn consent(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let id = get("request").unwrap_or_default().to_owned();
    if get("decision") != Some("allow") {
        return finish(&s, &id, None, false);
    }
    let Some(p) = pending(&s, &id) else {
        return refuse(400, "invalid_request", EXPIRED);
    };
    // Sign-in scopes always; the others only where the box was ticked.
    let ticked: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| n == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let granted = p
        .scopes
        .iter()
        .filter(|sc| is_sign_in(sc) || ticked.contains(&sc.as_str()))
        .cloned()
        .collect();
    finish(&s, &id, Some(granted), true)
}

/// Ends a request: a code for `granted` (None: `access_denied`), back at the redirect URI.
/// `consented` says whether the consent screen was shown, which a refresh token needs.
fn finish(s: &Shared, id: &str, granted: Option<Vec<String>>, consented: bool) -> Response {
    let Some(p) = lock(&s.google).pending.remove(id) else {
        return refuse(400, "invalid_request", EXPIRED);
    };
    let (Some(user), Ok(mut url)) = (p.user.clone(), url::Url::parse(&p.redirect_uri)) else {
        return refuse(400, "invalid_request", EXPIRED);
    };
    match granted {
        None => {
            url.query_pairs_mut().append_pair("error", "access_denied");
        }
        Some(granted) => {
            let key = (user.clone(), p.client_id.clone());
            let mut scopes: BTreeSet<String> = granted.into_iter().collect();
            {
                let mut g = lock(&s.google);
                let ever = g.granted.entry(key).or_default();
                ever.extend(scopes.iter().cloned());
                if p.include_granted_scopes {
                    scopes.extend(ever.iter().cloned());
                }
            }
            let scopes: Vec<String> = scopes.into_iter().collect();
            let now = s.clock.now();
            let code = {
                let mut o = lock(&s.oauth);
                let code = o.issue_code(
                    &p.client_id,
                    &p.redirect_uri,
                    &user,
                    scopes.clone(),
                    &p.challenge,
                    now,
                    s.config.code_ttl_seconds,
                );
                // A refresh token comes with offline access, and only when the consent
                // screen was shown (the first time, or with prompt=consent).
                o.set_offline(&code, p.offline && consented);
                code
            };
            if let Some(nonce) = &p.nonce {
                lock(&s.google).nonces.insert(code.clone(), nonce.clone());
            }
            url.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("authuser", "0")
                .append_pair("prompt", if consented { "consent" } else { "none" });
        }
    }
    if let Some(st) = &p.state {
        url.query_pairs_mut().append_pair("state", st);
    }
    Redirect::to(url.as_str()).into_response()
}

/// RFC 7009 as Google does it: the token in the form (or the query); either token of a
/// grant ends the whole grant; 200 with an empty body, or 400 `invalid_token`.
async fn revoke(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    RawForm(body): RawForm,
) -> Response {
    let f = form(&body);
    let token = f
        .get("token")
        .or_else(|| q.get("token"))
        .cloned()
        .unwrap_or_default();
    if lock(&s.oauth).revoke_token(&token) {
        StatusCode::OK.into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": "invalid_token", "error_description": "Token expired or revoked"}),
            ),
        )
            .into_response()
    }
}

/// The Google user id of an emulated user: stable, numeric, 21 digits.
pub fn subject(s: &Shared, email: &str) -> Option<String> {
    s.user(email).map(|u| format!("10{}", u.scim_id))
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let now = s.clock.now();
    let Ok(rec) = lock(&s.oauth).bearer(token, now) else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": "invalid_request", "error_description": "Invalid Credentials"}),
            ),
        )
            .into_response();
    };
    let name = s.user(&rec.user).map(|u| u.config.display_name.clone());
    axum::Json(json!({
        "sub": subject(&s, &rec.user),
        "email": rec.user,
        "email_verified": true,
        "name": name,
    }))
    .into_response()
}
