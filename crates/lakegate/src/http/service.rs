//! Operational endpoints: liveness, readiness, metrics, and the embedded stylesheet.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::routes::{Kind, M, Registry};
use crate::auth::Access;
use crate::http::state::AppState;

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/healthz",
        Kind::Api,
        Access::Public,
        "Process is alive",
        healthz,
    );
    reg.answers::<Health>(200);
    reg.add(
        M::Get,
        "/readyz",
        Kind::Api,
        Access::Public,
        "Store reachable and migrations current",
        readyz,
    );
    reg.answers::<Health>(200);
    reg.answers::<Health>(503);
    reg.add(
        M::Get,
        "/metrics",
        Kind::Api,
        Access::Public,
        "Prometheus metrics",
        metrics,
    );
    reg.answer(
        200,
        vec![("text/plain", serde_json::json!({"type": "string"}))],
    );
    reg.add(
        M::Get,
        "/static/app.css",
        Kind::Page,
        Access::Public,
        "Stylesheet",
        stylesheet,
    );
    reg.add(
        M::Get,
        "/static/app.js",
        Kind::Page,
        Access::Public,
        "Page script (copy buttons)",
        script,
    );
}

/// What the health routes answer.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Health {
    /// `ok`, `ready` or `not_ready`.
    status: &'static str,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

async fn healthz() -> impl IntoResponse {
    axum::Json(Health {
        status: "ok",
        message: None,
    })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |message: String| {
        let status = "not_ready";
        let body = Health {
            status,
            message: Some(message),
        };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
    };
    if let Err(skew) = state.services.tokens.skew().check() {
        return not_ready(skew.to_string());
    }
    if state.store.is_ready().await {
        let ready = Health {
            status: "ready",
            message: None,
        };
        (StatusCode::OK, axum::Json(ready))
    } else {
        not_ready("the store is unreachable or migrations are pending".into())
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(counts) = state.store.credential_status_counts().await {
        state.metrics.set_credentials(&counts);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}
