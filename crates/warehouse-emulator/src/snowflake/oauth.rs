//! An account's OAuth endpoints for custom security integrations: `/oauth/authorize` (its
//! checks before login, login, the consent page naming the role) and
//! `/oauth/token-request` (Basic client authentication over the raw id and secret,
//! Snowflake's response and error bodies).
//!
//! Strictest readings where Snowflake's behaviour is unknown (README): PKCE S256 is required
//! (as with `OAUTH_ENFORCE_PKCE = TRUE`); a client secret in the body is refused (the docs
//! name Basic only); every token error answers 400.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use serde_json::{Value, json};

use super::integration::blocked;
use super::pages;
use crate::config::SnowflakeIntegrationConfig;
use crate::databricks::oauth::{PendingAuth, consent_answer, form, signed_in};
use crate::engine::authz::{TokenError, random_id};
use crate::engine::token_call;
use crate::state::{Shared, lock};

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/authorize/login", post(login))
        .route("/oauth/authorize/consent", post(consent))
        .route("/oauth/token-request", post(token))
}

/// Snowflake's error page, without a redirect (the request cannot be trusted with one).
fn refuse(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Html(pages::error(code, message))).into_response()
}

/// What a `scope` asks for: a refresh token, and at most one session role.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Asked {
    pub refresh: bool,
    pub role: Option<String>,
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a scope as Snowflake does, before any login: `refresh_token`,
/// `session:role:<ROLE>`, `session:role-encoded:<percent-encoded>`; anything else (such as
/// `offline_access`) or a second role is an invalid scope.
pub fn parse_scope(raw: &str) -> Option<Asked> {
    let mut asked = Asked::default();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let role = if token == "refresh_token" {
            asked.refresh = true;
            continue;
        } else if let Some(r) = token.strip_prefix("session:role:") {
            r.to_owned()
        } else if let Some(r) = token.strip_prefix("session:role-encoded:") {
            percent_decode(r)?
        } else {
            return None;
        };
        if role.is_empty() || asked.role.replace(role).is_some() {
            return None;
        }
    }
    Some(asked)
}

fn integration(s: &Shared, client_id: &str) -> Option<SnowflakeIntegrationConfig> {
    lock(&s.snowflake).get(client_id).cloned()
}

/// The redirect URI without its query: what Snowflake compares with the registered one.
fn without_query(uri: &str) -> Option<String> {
    let mut u = url::Url::parse(uri).ok()?;
    u.set_query(None);
    Some(u.to_string())
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str);
    if param("response_type") != Some("code") {
        return refuse("390304", "Invalid response type.");
    }
    let state = param("state");
    if state.is_some_and(|st| st.len() > 2048) {
        return refuse("390305", "Invalid state: longer than 2048 characters.");
    }
    let client_id = param("client_id").unwrap_or_default();
    let Some(i) = integration(&s, client_id) else {
        return refuse("390306", "Invalid client ID.");
    };
    let redirect_uri = param("redirect_uri").unwrap_or_default();
    if without_query(redirect_uri).as_deref() != Some(i.redirect_uri.as_str()) {
        return refuse("390307", "Invalid redirect URI.");
    }
    let scope = param("scope").unwrap_or_default();
    if parse_scope(scope).is_none() {
        return refuse("390308", "The requested scope is invalid.");
    }
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_owned(),
        _ => return refuse("390311", "Invalid code challenge or code challenge method."),
    };
    let id = random_id(16);
    let pending = PendingAuth {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes: scope
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        state: state.map(str::to_owned),
        challenge,
        user: None,
        expires_at: s.clock.now() + 600,
    };
    lock(&s.pending).insert(id.clone(), pending);
    Html(pages::login(&id, &i.name, None)).into_response()
}

/// The role a sign-in will use: the one asked for, else the user's default — if the user
/// holds it and the integration does not block it.
fn session_role(
    s: &Shared,
    i: &SnowflakeIntegrationConfig,
    email: &str,
    scopes: &[String],
) -> Option<String> {
    let asked = parse_scope(&scopes.join(" "))?;
    let roles = &s.user(email)?.config.snowflake_roles;
    let role = asked.role.or_else(|| roles.first().cloned())?;
    (roles.contains(&role) && !blocked(i, &role)).then_some(role)
}

fn pending(s: &Shared, id: &str) -> Option<(PendingAuth, SnowflakeIntegrationConfig)> {
    let now = s.clock.now();
    let mut all = lock(&s.pending);
    all.retain(|_, p| p.expires_at > now);
    let p = all.get(id).cloned()?;
    let i = integration(s, &p.client_id)?;
    Some((p, i))
}

const EXPIRED: &str = "The sign-in request expired. Start again from the application.";

async fn login(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let f = form(&body);
    let id = f.get("request").cloned().unwrap_or_default();
    let Some((p, i)) = pending(&s, &id) else {
        return refuse("390300", EXPIRED);
    };
    let Some(email) = signed_in(&s, &f) else {
        let page = pages::login(
            &id,
            &i.name,
            Some("Incorrect username or password was specified."),
        );
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    };
    // Whether the user holds the role is known only now, after login.
    let Some(role) = session_role(&s, &i, &email, &p.scopes) else {
        lock(&s.pending).remove(&id);
        return refuse("390302", "Invalid consent request.");
    };
    if let Some(entry) = lock(&s.pending).get_mut(&id) {
        entry.user = Some(email.clone());
    }
    if i.pre_authorized_roles.contains(&role) || s.config.auto_approve {
        return finish(&s, &id, true);
    }
    Html(pages::consent(&id, &i.name, &s.login_name(&email), &role)).into_response()
}

async fn consent(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let (id, allow) = consent_answer(&body);
    finish(&s, &id, allow)
}

/// Ends an authorization request: a code (with `state` and the requested `scope`), or
/// `access_denied`, back at the redirect URI (its own query kept).
fn finish(s: &Shared, id: &str, allow: bool) -> Response {
    let Some(p) = lock(&s.pending).remove(id) else {
        return refuse("390300", EXPIRED);
    };
    let (Some(user), Some(i)) = (p.user.clone(), integration(s, &p.client_id)) else {
        return refuse("390300", EXPIRED);
    };
    let Ok(mut url) = url::Url::parse(&p.redirect_uri) else {
        return refuse("390307", "Invalid redirect URI.");
    };
    let role = session_role(s, &i, &user, &p.scopes);
    match role.filter(|_| allow && p.expires_at > s.clock.now()) {
        None => {
            url.query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The user denied the request.");
        }
        Some(role) => {
            // The code carries the session role, asked for or not.
            let mut scopes: Vec<String> = p
                .scopes
                .iter()
                .filter(|t| !t.starts_with("session:role"))
                .cloned()
                .collect();
            scopes.push(format!("session:role:{role}"));
            let code = lock(&s.oauth).issue_code(
                &p.client_id,
                &p.redirect_uri,
                &user,
                scopes,
                &p.challenge,
                s.clock.now(),
                s.config.code_ttl_seconds,
            );
            url.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("scope", &p.scopes.join(" "));
        }
    }
    if let Some(st) = &p.state {
        url.query_pairs_mut().append_pair("state", st);
    }
    Redirect::to(url.as_str()).into_response()
}

/// Snowflake's token error body: not RFC 6749's shape.
fn token_error(e: TokenError) -> Response {
    let (error, message) = match e {
        TokenError::InvalidRequest(d) => ("invalid_request", d),
        TokenError::InvalidClient => ("invalid_client", "This is an invalid client.".into()),
        TokenError::InvalidGrant(_) | TokenError::DeadRefreshToken => (
            "invalid_grant",
            "The provided grant or refresh token is invalid.".into(),
        ),
        TokenError::UnsupportedGrantType => (
            "unsupported_grant_type",
            "The provided grant type is not supported.".into(),
        ),
        TokenError::InvalidScope => ("invalid_scope", "The requested scope is invalid.".into()),
    };
    let body =
        json!({"data": null, "message": message, "code": null, "success": false, "error": error});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let f = form(&body);
    let grant_type = f.get("grant_type").cloned().unwrap_or_default();
    token_call::run(
        &s,
        &grant_type,
        super::faults::token(&s),
        || match token_inner(&s, &headers, &f, &grant_type) {
            Ok(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
            Err(e) => token_error(e),
        },
    )
    .await
}

fn token_inner(
    s: &Shared,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
    grant_type: &str,
) -> Result<Value, TokenError> {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return Err(TokenError::InvalidRequest(
            "Content-Type must be application/x-www-form-urlencoded.".into(),
        ));
    }
    if f.contains_key("client_secret") {
        return Err(TokenError::InvalidRequest(
            "Client credentials go in the Authorization header.".into(),
        ));
    }
    // Over the raw id and secret: ids and secrets are base64 with `+ / =`.
    let (client_id, secret) = token_call::basic(headers, false).ok_or(TokenError::InvalidClient)?;
    let now = s.clock.now();
    let issuer = s.base_url.clone();
    let facts = |email: &str| s.user_facts(email);
    let mut o = lock(&s.oauth);
    let app = o.authenticate_client(&client_id, Some(&secret))?.clone();
    if !lock(&s.snowflake).contains_key(&app.client_id) {
        return Err(TokenError::InvalidClient);
    }
    let arg = |k: &str| f.get(k).map(String::as_str);
    let (set, exchanged) = match grant_type {
        "authorization_code" => {
            let code =
                arg("code").ok_or_else(|| TokenError::InvalidRequest("Missing code.".into()))?;
            let set = o.redeem_code(
                &app,
                code,
                arg("redirect_uri"),
                arg("code_verifier"),
                now,
                &s.signer,
                &issuer,
                facts,
            )?;
            (set, true)
        }
        "refresh_token" => {
            let rt = arg("refresh_token")
                .ok_or_else(|| TokenError::InvalidRequest("Missing refresh_token.".into()))?;
            (
                o.refresh(&app, rt, arg("scope"), now, &s.signer, &issuer, facts)?,
                false,
            )
        }
        "" => return Err(TokenError::InvalidRequest("Missing grant_type.".into())),
        _ => return Err(TokenError::UnsupportedGrantType),
    };
    let user = o
        .bearer(&set.access_token, now)
        .map(|r| r.user)
        .unwrap_or_default();
    let mut answer = json!({
        "access_token": set.access_token,
        "token_type": "Bearer",
        "expires_in": set.expires_in,
    });
    // A refresh answers a refresh token only when it rotated one (single-use mode):
    // without rotation the client keeps the one it has.
    let rotated = !exchanged && app.token_access_policy.enable_single_use_refresh_tokens;
    if let Some(rt) = set.refresh_token.filter(|_| exchanged || rotated) {
        answer["refresh_token"] = json!(rt);
    }
    // The login name comes only with the code exchange.
    if exchanged {
        answer["username"] = json!(s.login_name(&user));
    }
    Ok(answer)
}
