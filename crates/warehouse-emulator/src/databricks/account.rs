//! The account API for app connections (`custom-app-integrations`) and service principals
//! (`principals.rs`), guarded by the
//! emulator's admin token when one is set. Any account id is accepted.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::config::TokenPolicy;
use crate::databricks::errors;
use crate::engine::authz::{App, random_id};
use crate::state::{Shared, lock};

const KNOWN_SCOPES: [&str; 6] = [
    "all-apis",
    "sql",
    "offline_access",
    "openid",
    "email",
    "profile",
];
const BASE: &str = "/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations";

pub fn router(s: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(
            &format!("{BASE}/{{id}}"),
            get(get_one).patch(update).delete(delete),
        )
        .merge(crate::databricks::principals::account_routes())
        .route_layer(axum::middleware::from_fn_with_state(s, guard))
}

async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if let Some(expected) = &s.config.admin_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(expected.as_str()) {
            return errors::rest(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Invalid or missing account admin credentials.",
            );
        }
    }
    next.run(req).await
}

/// The body of a create or update request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    pub name: Option<String>,
    pub redirect_urls: Option<Vec<String>>,
    pub confidential: Option<bool>,
    pub scopes: Option<Vec<String>>,
    pub user_authorized_scopes: Option<Vec<String>>,
    pub token_access_policy: Option<TokenPolicy>,
}

fn check(req: &AppRequest) -> Result<(), String> {
    if let Some(urls) = &req.redirect_urls {
        if urls.is_empty() {
            return Err("redirect_urls must not be empty".into());
        }
        if let Some(bad) = urls
            .iter()
            .find(|u| url::Url::parse(u).map_or(true, |p| p.cannot_be_a_base()))
        {
            return Err(format!("redirect_url '{bad}' is not an absolute URL"));
        }
    }
    if let Some(bad) = req
        .scopes
        .iter()
        .flatten()
        .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
    {
        return Err(format!("Unsupported scope: {bad}"));
    }
    if let Some(p) = &req.token_access_policy {
        if !(5..=1440).contains(&p.access_token_ttl_in_minutes) {
            return Err("access_token_ttl_in_minutes must be between 5 and 1440".into());
        }
        if !(p.access_token_ttl_in_minutes..=129_600).contains(&p.refresh_token_ttl_in_minutes) {
            return Err("refresh_token_ttl_in_minutes must be between access_token_ttl_in_minutes and 129600".into());
        }
        if p.absolute_session_lifetime_in_minutes
            .is_some_and(|a| a < p.refresh_token_ttl_in_minutes)
        {
            return Err("absolute_session_lifetime_in_minutes must not be lower than refresh_token_ttl_in_minutes".into());
        }
    }
    Ok(())
}

/// Registers an app (also used directly by tests and the demo); returns it with its secret.
pub fn register(s: &Shared, req: AppRequest) -> Result<App, String> {
    check(&req)?;
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or("name is required")?;
    let redirect_urls = req.redirect_urls.ok_or("redirect_urls is required")?;
    let confidential = req.confidential.unwrap_or(false);
    let app = App {
        integration_id: random_id(16),
        name,
        client_id: uuid::Uuid::new_v4().to_string(),
        client_secret: confidential.then(|| format!("dose{}", random_id(16))),
        confidential,
        redirect_urls,
        scopes: req.scopes.unwrap_or_else(|| vec!["all-apis".into()]),
        token_access_policy: req.token_access_policy.unwrap_or_default(),
        create_time: crate::engine::clock::rfc3339(s.clock.now()),
        flavor: crate::engine::authz::Flavor::Databricks,
    };
    lock(&s.oauth).add_app(app.clone());
    Ok(app)
}

async fn create(
    State(s): State<Arc<Shared>>,
    Path(_account): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let req: AppRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return errors::invalid_parameter(format!("Invalid request body: {e}")),
    };
    match register(&s, req) {
        Ok(app) => {
            let mut body =
                json!({"integration_id": app.integration_id, "client_id": app.client_id});
            if let Some(secret) = app.client_secret {
                body["client_secret"] = json!(secret);
            }
            Json(body).into_response()
        }
        Err(e) => errors::invalid_parameter(e),
    }
}

fn find(s: &Shared, id: &str) -> Option<App> {
    lock(&s.oauth)
        .apps
        .values()
        .find(|a| a.integration_id == id)
        .cloned()
}

async fn list(State(s): State<Arc<Shared>>, Path(_account): Path<String>) -> Response {
    let apps: Vec<App> = lock(&s.oauth).apps.values().cloned().collect();
    Json(json!({"apps": apps})).into_response()
}

async fn get_one(
    State(s): State<Arc<Shared>>,
    Path((_account, id)): Path<(String, String)>,
) -> Response {
    match find(&s, &id) {
        Some(app) => Json(app).into_response(),
        None => errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("App integration {id} does not exist."),
        ),
    }
}

async fn update(
    State(s): State<Arc<Shared>>,
    Path((_account, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let req: AppRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return errors::invalid_parameter(format!("Invalid request body: {e}")),
    };
    if let Err(e) = check(&req) {
        return errors::invalid_parameter(e);
    }
    let mut o = lock(&s.oauth);
    let Some(app) = o.apps.values_mut().find(|a| a.integration_id == id) else {
        return errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("App integration {id} does not exist."),
        );
    };
    if let Some(urls) = req.redirect_urls {
        app.redirect_urls = urls;
    }
    if let Some(scopes) = req.scopes {
        app.scopes = scopes;
    }
    if let Some(p) = req.token_access_policy {
        app.token_access_policy = p;
    }
    Json(json!({})).into_response()
}

async fn delete(
    State(s): State<Arc<Shared>>,
    Path((_account, id)): Path<(String, String)>,
) -> Response {
    let Some(app) = find(&s, &id) else {
        return errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("App integration {id} does not exist."),
        );
    };
    lock(&s.oauth).forget_app(&app.client_id);
    Json(json!({})).into_response()
}
