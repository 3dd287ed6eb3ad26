//! Service principals and personal access tokens: the account API that creates principals
//! and their OAuth secrets (`/api/2.0/accounts/{account_id}/servicePrincipals…`), the
//! `client_credentials` grant they use (`all-apis` only, a new token each time, no refresh
//! token), and personal access tokens (`/api/2.0/token/create|list|delete`, `dapi…`,
//! optional lifetime), which authenticate REST calls as the user who made them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::databricks::errors;
use crate::databricks::rest::Caller;
use crate::engine::authz::{TokenError, TokenSet, random_id};
use crate::state::{Shared, lock};

/// Grants a new service principal gets over the sample data (tests add more).
pub const DEFAULT_GRANTS: [&str; 1] = ["samples.nyctaxi.*"];

#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    pub id: String,
    pub application_id: String,
    pub display_name: String,
    /// Secret id → secret.
    pub secrets: HashMap<String, String>,
    pub grants: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Pat {
    pub id: String,
    /// The user (email) it acts as.
    pub owner: String,
    pub created_at: i64,
    /// `None`: no expiry.
    pub expires_at: Option<i64>,
    pub comment: String,
}

#[derive(Default)]
pub struct Principals {
    pub by_app: HashMap<String, ServicePrincipal>,
    /// Token value → token.
    pub pats: HashMap<String, Pat>,
}

impl Principals {
    /// The principal whose `application_id` and `secret` these are.
    pub fn authenticate(&self, application_id: &str, secret: &str) -> Option<&ServicePrincipal> {
        self.by_app
            .get(application_id)
            .filter(|p| p.secrets.values().any(|s| s == secret))
    }

    /// The user a live personal access token acts as.
    pub fn pat_owner(&self, token: &str, now: i64) -> Option<String> {
        self.pats
            .get(token)
            .filter(|p| p.expires_at.is_none_or(|e| now < e))
            .map(|p| p.owner.clone())
    }

    /// Grants of a principal, by application id.
    pub fn grants(&self, application_id: &str) -> Option<Vec<String>> {
        self.by_app.get(application_id).map(|p| p.grants.clone())
    }
}

/// The account API's routes (guarded like the app-connection API).
pub fn account_routes() -> Router<Arc<Shared>> {
    let base = "/api/2.0/accounts/{account_id}/servicePrincipals";
    Router::new()
        .route(base, post(create_principal))
        .route(
            &format!("{base}/{{id}}/credentials/secrets"),
            post(create_secret),
        )
        .route(
            &format!("{base}/{{id}}/credentials/secrets/{{secret_id}}"),
            delete(delete_secret),
        )
}

/// The workspace's token API (behind REST authentication).
pub fn workspace_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/token/create", post(create_pat))
        .route("/api/2.0/token/list", get(list_pats))
        .route("/api/2.0/token/delete", post(delete_pat))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewPrincipal {
    display_name: String,
    #[serde(default)]
    active: Option<bool>,
}

/// Creates a principal (the handle and the account API share this).
pub fn create(s: &Shared, display_name: &str) -> ServicePrincipal {
    let mut p = lock(&s.principals);
    let sp = ServicePrincipal {
        id: format!("{}", 8_000_000_000_000_000u64 + p.by_app.len() as u64 + 1),
        application_id: uuid::Uuid::new_v4().to_string(),
        display_name: display_name.to_owned(),
        secrets: HashMap::new(),
        grants: DEFAULT_GRANTS.iter().map(|g| (*g).to_owned()).collect(),
    };
    p.by_app.insert(sp.application_id.clone(), sp.clone());
    sp
}

/// A new OAuth secret of the principal `id`: (secret id, secret).
pub fn add_secret(s: &Shared, id: &str) -> Option<(String, String)> {
    let mut p = lock(&s.principals);
    let sp = p.by_app.values_mut().find(|sp| sp.id == id)?;
    let secret_id = random_id(8);
    let secret = format!("dose{}", random_id(24));
    sp.secrets.insert(secret_id.clone(), secret.clone());
    Some((secret_id, secret))
}

async fn create_principal(
    State(s): State<Arc<Shared>>,
    Path(_account): Path<String>,
    Json(b): Json<NewPrincipal>,
) -> Response {
    if b.display_name.trim().is_empty() {
        return errors::invalid_parameter("displayName is required.");
    }
    let sp = create(&s, &b.display_name);
    Json(json!({
        "id": sp.id, "applicationId": sp.application_id, "displayName": sp.display_name,
        "active": b.active.unwrap_or(true),
    }))
    .into_response()
}

async fn create_secret(
    State(s): State<Arc<Shared>>,
    Path((_account, id)): Path<(String, String)>,
) -> Response {
    match add_secret(&s, &id) {
        Some((secret_id, secret)) => Json(json!({
            "id": secret_id, "secret": secret, "status": "ACTIVE",
            "create_time": crate::engine::clock::rfc3339(s.clock.now()),
        }))
        .into_response(),
        None => errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Service principal {id} does not exist."),
        ),
    }
}

async fn delete_secret(
    State(s): State<Arc<Shared>>,
    Path((_account, id, secret_id)): Path<(String, String, String)>,
) -> Response {
    let mut p = lock(&s.principals);
    let removed = p
        .by_app
        .values_mut()
        .find(|sp| sp.id == id)
        .and_then(|sp| sp.secrets.remove(&secret_id));
    match removed {
        Some(_) => Json(json!({})).into_response(),
        None => errors::not_found("RESOURCE_DOES_NOT_EXIST", "Secret does not exist."),
    }
}

/// The `client_credentials` grant: the principal's own token for `all-apis`, an hour.
pub fn client_credentials(
    s: &Shared,
    application_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> Result<TokenSet, TokenError> {
    if lock(&s.principals)
        .authenticate(application_id, secret)
        .is_none()
    {
        return Err(TokenError::InvalidClient);
    }
    let scopes: Vec<String> = scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| s != "all-apis") {
        return Err(TokenError::InvalidScope);
    }
    let now = s.clock.now();
    lock(&s.oauth).issue_service_token(application_id, &scopes, 3600, now, &s.signer, &s.issuer())
}

#[derive(Deserialize, Default)]
struct NewPat {
    lifetime_seconds: Option<i64>,
    #[serde(default)]
    comment: String,
}

fn info(id: &str, t: &Pat) -> serde_json::Value {
    json!({
        "token_id": id, "creation_time": t.created_at * 1000,
        "expiry_time": t.expires_at.map_or(-1, |e| e * 1000), "comment": t.comment,
    })
}

async fn create_pat(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    body: Option<Json<NewPat>>,
) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    if b.lifetime_seconds.is_some_and(|l| l <= 0) {
        return errors::invalid_parameter("lifetime_seconds must be positive.");
    }
    let (value, pat) = new_pat(&s, &c.email, b.lifetime_seconds, b.comment);
    let token_info = info(&pat.id, &pat);
    lock(&s.principals).pats.insert(value.clone(), pat);
    Json(json!({"token_value": value, "token_info": token_info})).into_response()
}

/// A new personal access token acting as `email`, not stored yet: (value, token).
fn new_pat(
    s: &Shared,
    email: &str,
    lifetime_seconds: Option<i64>,
    comment: String,
) -> (String, Pat) {
    let now = s.clock.now();
    let pat = Pat {
        id: random_id(16),
        owner: email.to_owned(),
        created_at: now,
        expires_at: lifetime_seconds.map(|l| now + l),
        comment,
    };
    (format!("dapi{}", random_id(16)), pat)
}

/// Creates a personal access token acting as `email`: (value, id).
pub fn create_pat_for(s: &Shared, email: &str, lifetime_seconds: Option<i64>) -> (String, String) {
    let (value, pat) = new_pat(s, email, lifetime_seconds, String::new());
    let id = pat.id.clone();
    lock(&s.principals).pats.insert(value.clone(), pat);
    (value, id)
}

async fn list_pats(State(s): State<Arc<Shared>>, Extension(c): Extension<Caller>) -> Response {
    let p = lock(&s.principals);
    let infos: Vec<_> = p
        .pats
        .values()
        .filter(|t| t.owner == c.email)
        .map(|t| info(&t.id, t))
        .collect();
    Json(json!({"token_infos": infos})).into_response()
}

#[derive(Deserialize)]
struct DeletePat {
    token_id: String,
}

async fn delete_pat(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Json(b): Json<DeletePat>,
) -> Response {
    let mut p = lock(&s.principals);
    let found = p
        .pats
        .iter()
        .find(|(_, t)| t.id == b.token_id && t.owner == c.email)
        .map(|(v, _)| v.clone());
    match found {
        Some(v) => {
            p.pats.remove(&v);
            (StatusCode::OK, Json(json!({}))).into_response()
        }
        None => errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Token with id {} does not exist.", b.token_id),
        ),
    }
}
