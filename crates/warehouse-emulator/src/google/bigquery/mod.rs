//! BigQuery REST v2 at `/bigquery/v2/…`: projects, datasets and tables of the shared
//! sample data (`listings.rs`), and queries as jobs (`jobs.rs`), with every answer and
//! error in Google's shapes. A project stands for one engine catalog; its datasets are
//! the catalog's schemas; what a user sees follows their grants (IAM).

pub mod cells;
pub mod jobs;
mod listings;
mod request;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::config::GoogleProjectConfig;
use crate::engine::authz::{AccessError, Flavor};
use crate::state::{Shared, lock};

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/bigquery/v2/projects", get(listings::projects))
        .route(
            "/bigquery/v2/projects/{project}/datasets",
            get(listings::datasets),
        )
        .route(
            "/bigquery/v2/projects/{project}/datasets/{dataset}/tables",
            get(listings::tables),
        )
        .route(
            "/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}",
            get(listings::table),
        )
        .route("/bigquery/v2/projects/{project}/queries", post(jobs::query))
        .route(
            "/bigquery/v2/projects/{project}/queries/{job}",
            get(jobs::results),
        )
        .route(
            "/bigquery/v2/projects/{project}/jobs/{job}/cancel",
            post(jobs::cancel),
        )
}

/// Google's error envelope.
pub fn error(status: StatusCode, reason: &str, message: &str, detail: Option<&str>) -> Response {
    let mut body = super::faults::envelope(status, Some(reason.into()), Some(message.into()));
    if let Some(d) = detail {
        body["error"]["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": d, "domain": "googleapis.com",
            "metadata": {"service": "bigquery.googleapis.com", "method": "google.cloud.bigquery.v2"},
        }]);
    }
    (status, axum::Json(body)).into_response()
}

pub fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

const BAD_CREDENTIALS: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// The caller's email, from a Google access token that carries a BigQuery scope.
pub async fn caller(s: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    if let Some(fault) = super::faults::api(s).await {
        return Err(fault);
    }
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "required",
            "Login Required.",
            None,
        ));
    };
    let now = s.clock.now();
    let o = lock(&s.oauth);
    let rec = match o.bearer(token, now) {
        Ok(r) => r,
        Err(AccessError::Expired) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "authError",
                BAD_CREDENTIALS,
                Some("ACCESS_TOKEN_EXPIRED"),
            ));
        }
        Err(_) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "authError",
                BAD_CREDENTIALS,
                None,
            ));
        }
    };
    // Another vendor's token is not a Google credential.
    if o.apps
        .get(&rec.client_id)
        .is_none_or(|a| a.flavor != Flavor::Google)
    {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authError",
            BAD_CREDENTIALS,
            None,
        ));
    }
    let allowed = rec.scopes.iter().any(|sc| {
        sc == super::client::BIGQUERY
            || sc == "https://www.googleapis.com/auth/bigquery.readonly"
            || sc.starts_with("https://www.googleapis.com/auth/cloud-platform")
    });
    if !allowed {
        return Err(error(
            StatusCode::FORBIDDEN,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
            Some("ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        ));
    }
    Ok(rec.user)
}

/// A configured project, or Google's 404.
pub fn project<'a>(s: &'a Shared, id: &str) -> Result<&'a GoogleProjectConfig, Response> {
    s.config
        .google_projects
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("Not found: Project {id}"),
                None,
            )
        })
}

/// The user's grants (table patterns `catalog.schema.table`).
pub fn grants(s: &Shared, email: &str) -> Vec<String> {
    s.user(email)
        .map(|u| u.config.grants.clone())
        .unwrap_or_default()
}

/// `pageToken` / `maxResults` paging over `items` (the token is the next offset).
pub fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    max: Option<usize>,
    default: usize,
) -> (Vec<T>, Option<String>) {
    let from = token.and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let size = max.filter(|m| *m > 0).unwrap_or(default).max(1);
    let out: Vec<T> = items.iter().skip(from).take(size).cloned().collect();
    let next = (from + size < items.len()).then(|| (from + size).to_string());
    (out, next)
}
