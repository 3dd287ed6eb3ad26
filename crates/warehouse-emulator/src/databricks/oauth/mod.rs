//! The workspace's OAuth endpoints: discovery, the authorize page (login + consent), and
//! the token endpoint.

mod pages;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::databricks::errors;
use crate::databricks::faults as control;
use crate::engine::authz::{App, TokenError};
use crate::engine::faults::Target;
use crate::engine::token_call;
use crate::state::{Shared, lock};

/// An authorization request waiting for the user to sign in and consent.
#[derive(Debug, Clone)]
pub struct PendingAuth {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub challenge: String,
    pub user: Option<String>,
    pub expires_at: i64,
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(discovery),
        )
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/databricks-config", get(host_metadata))
        .route("/oidc/jwks.json", get(jwks))
        .route("/oidc/v1/authorize", get(authorize))
        .route("/oidc/v1/authorize/login", post(login))
        .route("/oidc/v1/authorize/consent", post(consent))
        .route("/oidc/v1/token", post(token))
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let base = &s.base_url;
    axum::Json(json!({
        "issuer": s.issuer(),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "jwks_uri": format!("{base}/oidc/jwks.json"),
        "scopes_supported": ["all-apis", "email", "offline_access", "openid", "profile", "sql"],
        "response_types_supported": ["code", "id_token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "jti", "name", "family_name", "given_name", "preferred_username"],
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": s.config.authorization_response_iss
    }))
    .into_response()
}

/// The workspace's host metadata, which Databricks' SDKs read first to find the OIDC
/// endpoint, the workspace id and the cloud (an unknown value of these falls back to the
/// host-type rules; the emulator answers as an AWS workspace).
async fn host_metadata(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "oidc_endpoint": s.issuer(),
        "workspace_id": s.config.org_id,
        "cloud": "aws",
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.signer.jwks()).into_response()
}

/// The JSON page Databricks shows (without redirecting) for a bad client or redirect URI.
fn error_page(description: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error_description": description, "error": "invalid_request"})),
    )
        .into_response()
}

/// The `iss` a callback carries (RFC 9207), when the workspace is configured to send it.
fn callback_iss(s: &Shared) -> Option<String> {
    s.config.authorization_response_iss.then(|| s.issuer())
}

/// Redirects an error back to the (validated) redirect URI.
fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
    iss: Option<&str>,
) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page(format!("redirect_uri '{redirect_uri}' is not a valid URL")),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(st) = state {
            q.append_pair("state", st);
        }
        if let Some(iss) = iss {
            q.append_pair("iss", iss);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(resp) = control::inject(&s, Target::Authorize).await {
        return resp;
    }
    let param = |k: &str| q.get(k).map(String::as_str);
    let client_id = param("client_id").unwrap_or_default();
    let redirect_uri = param("redirect_uri").unwrap_or_default();
    let app: App = match lock(&s.oauth).apps.get(client_id).cloned() {
        Some(app) => app,
        None => {
            return error_page(format!(
                "OAuth application with client_id: '{client_id}' not available in Databricks account"
            ));
        }
    };
    if !app.redirect_urls.iter().any(|r| r == redirect_uri) {
        return error_page(format!(
            "redirect_uri '{redirect_uri}' not registered for OAuth application '{client_id}'"
        ));
    }
    let state = param("state");
    let iss = callback_iss(&s);
    let iss = iss.as_deref();
    if param("response_type") != Some("code") {
        return redirect_error(
            redirect_uri,
            state,
            "unsupported_response_type",
            "response_type must be code",
            iss,
        );
    }
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_owned(),
        _ => {
            return redirect_error(
                redirect_uri,
                state,
                "invalid_request",
                "PKCE with code_challenge_method=S256 is required",
                iss,
            );
        }
    };
    let scopes: Vec<String> = param("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Err(why) = app.allows(&scopes) {
        return redirect_error(redirect_uri, state, "access_denied", &why, iss);
    }
    let id = crate::engine::authz::random_id(16);
    let pending = PendingAuth {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: state.map(str::to_owned),
        challenge,
        user: None,
        expires_at: s.clock.now() + 600,
    };
    lock(&s.pending).insert(id.clone(), pending);
    Html(pages::login(&id, &app.name, None)).into_response()
}

pub(crate) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn take_pending(s: &Shared, id: &str) -> Option<PendingAuth> {
    let now = s.clock.now();
    let mut pending = lock(&s.pending);
    pending.retain(|_, p| p.expires_at > now);
    pending.get(id).cloned()
}

async fn login(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let f = form(&body);
    let id = f.get("request").cloned().unwrap_or_default();
    let Some(p) = take_pending(&s, &id) else {
        return error_page("The sign-in request expired. Start again from the application.".into());
    };
    let app_name = lock(&s.oauth)
        .apps
        .get(&p.client_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let Some(email) = signed_in(&s, &f) else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(pages::login(
                &id,
                &app_name,
                Some("Invalid email or password."),
            )),
        )
            .into_response();
    };
    if let Some(entry) = lock(&s.pending).get_mut(&id) {
        entry.user = Some(email.clone());
    }
    if s.config.auto_approve {
        return finish(&s, &id, true);
    }
    Html(pages::consent(&id, &app_name, &email, &p.scopes)).into_response()
}

/// The email of a login form whose password is the user's, lower-cased.
pub(crate) fn signed_in(s: &Shared, f: &HashMap<String, String>) -> Option<String> {
    let email = f.get("email")?.trim().to_lowercase();
    let password = f.get("password")?;
    s.user(&email)
        .is_some_and(|u| u.config.password == *password)
        .then_some(email)
}

/// A consent form's answer: the pending request's id, and whether the user allowed it.
pub(crate) fn consent_answer(body: &[u8]) -> (String, bool) {
    let f = form(body);
    let id = f.get("request").cloned().unwrap_or_default();
    (id, f.get("decision").map(String::as_str) == Some("allow"))
}

async fn consent(State(s): State<Arc<Shared>>, RawForm(body): RawForm) -> Response {
    let (id, allow) = consent_answer(&body);
    finish(&s, &id, allow)
}

/// Ends an authorization request: a code, or `access_denied`, back at the redirect URI.
fn finish(s: &Shared, id: &str, allow: bool) -> Response {
    let Some(p) = lock(&s.pending).remove(id) else {
        return error_page("The sign-in request expired. Start again from the application.".into());
    };
    let iss = callback_iss(s);
    let Some(user) = p.user.filter(|_| p.expires_at > s.clock.now()) else {
        return error_page("The sign-in request expired. Start again from the application.".into());
    };
    if !allow {
        return redirect_error(
            &p.redirect_uri,
            p.state.as_deref(),
            "access_denied",
            "The user denied the request",
            iss.as_deref(),
        );
    }
    let code = lock(&s.oauth).issue_code(
        &p.client_id,
        &p.redirect_uri,
        &user,
        p.scopes,
        &p.challenge,
        s.clock.now(),
        s.config.code_ttl_seconds,
    );
    let Ok(mut url) = url::Url::parse(&p.redirect_uri) else {
        return error_page("invalid redirect_uri".into());
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(st) = &p.state {
            q.append_pair("state", st);
        }
        if let Some(iss) = &iss {
            q.append_pair("iss", iss);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// Client credentials from `Authorization: Basic` (`client_secret_basic`) or the form body
/// (`client_secret_post`), never both: RFC 6749 §2.3.1 forbids more than one method in a
/// request, and the strictest server refuses it rather than letting one silently win.
/// A body `client_id` equal to Basic's is allowed (RFC 6749 §4.1.3 asks public clients
/// for it and many confidential ones send it too).
fn client_credentials(
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<(Option<String>, Option<String>), TokenError> {
    if headers.get(header::AUTHORIZATION).is_none() {
        return Ok((f.get("client_id").cloned(), f.get("client_secret").cloned()));
    }
    let (id, secret) = token_call::basic(headers, true).ok_or(TokenError::InvalidClient)?;
    let body_id_differs = f.get("client_id").is_some_and(|b| *b != id);
    if f.contains_key("client_secret") || body_id_differs {
        return Err(TokenError::InvalidRequest(
            "Multiple client authentication methods".into(),
        ));
    }
    Ok((Some(id), Some(secret)))
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let f = form(&body);
    let grant_type = f.get("grant_type").cloned().unwrap_or_default();
    lock(&s.oauth).token_call_started();
    let resp = token_inner(&s, &headers, &f, &grant_type).await;
    lock(&s.oauth).token_call_ended();
    resp
}

async fn token_inner(
    s: &Shared,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
    grant_type: &str,
) -> Response {
    if let Some(resp) = control::inject(s, Target::Token).await {
        return resp;
    }
    lock(&s.oauth).count_grant(grant_type);
    let (client_id, secret) = match client_credentials(headers, f) {
        Ok(credentials) => credentials,
        Err(e) => return token_error(s, e),
    };
    // OAuth M2M: a service principal authenticates as itself.
    if grant_type == "client_credentials" {
        let set = crate::databricks::principals::client_credentials(
            s,
            client_id.as_deref().unwrap_or_default(),
            secret.as_deref().unwrap_or_default(),
            f.get("scope").map(String::as_str),
        );
        return match set {
            Ok(set) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(set)).into_response(),
            Err(e) => token_error(s, e),
        };
    }
    let now = s.clock.now();
    let issuer = s.issuer();
    let facts = |email: &str| s.user_facts(email);
    let mut o = lock(&s.oauth);
    let app =
        match o.authenticate_client(client_id.as_deref().unwrap_or_default(), secret.as_deref()) {
            Ok(app) => app.clone(),
            Err(e) => return token_error(s, e),
        };
    let result = match grant_type {
        "authorization_code" => match f.get("code") {
            Some(code) => o.redeem_code(
                &app,
                code,
                f.get("redirect_uri").map(String::as_str),
                f.get("code_verifier").map(String::as_str),
                now,
                &s.signer,
                &issuer,
                facts,
            ),
            None => Err(TokenError::InvalidRequest("Missing code".into())),
        },
        "refresh_token" => match f.get("refresh_token") {
            Some(rt) => o.refresh(
                &app,
                rt,
                f.get("scope").map(String::as_str),
                now,
                &s.signer,
                &issuer,
                facts,
            ),
            None => Err(TokenError::InvalidRequest("Missing refresh_token".into())),
        },
        "" => Err(TokenError::InvalidRequest("Missing grant_type".into())),
        _ => Err(TokenError::UnsupportedGrantType),
    };
    drop(o);
    match result {
        Ok(mut set) => {
            if control::omit_refresh_token(s) {
                set.refresh_token = None;
            }
            ([(header::CACHE_CONTROL, "no-store")], axum::Json(set)).into_response()
        }
        Err(e) => token_error(s, e),
    }
}

fn token_error(s: &Shared, e: TokenError) -> Response {
    match e {
        TokenError::InvalidRequest(d) => {
            errors::oauth(StatusCode::BAD_REQUEST, "invalid_request", &d)
        }
        TokenError::InvalidClient => errors::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ),
        TokenError::InvalidGrant(d) => errors::oauth(StatusCode::BAD_REQUEST, "invalid_grant", &d),
        TokenError::UnsupportedGrantType => errors::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        ),
        TokenError::InvalidScope => errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope exceeds the scope granted",
        ),
        TokenError::DeadRefreshToken => {
            let status = StatusCode::from_u16(s.config.invalid_refresh_status)
                .unwrap_or(StatusCode::UNAUTHORIZED);
            errors::oauth(status, "invalid_request", "Refresh token is invalid")
        }
    }
}
