//! The control API (off unless enabled): inject faults into the next N token or REST
//! calls, revoke a user's tokens, kill one refresh token, advance the clock, read counters.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::engine::faults::{FaultRequest, Faults};
use crate::state::{Shared, lock};

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/emulator/control/faults",
            post(add_fault).delete(clear_faults),
        )
        .route("/emulator/control/clock/advance", post(advance))
        .route("/emulator/control/counters", get(counters))
        .route(
            "/emulator/control/users/{email}/revoke-tokens",
            post(revoke_user),
        )
        .route("/emulator/control/refresh-tokens/kill", post(kill_refresh))
        .route(
            "/emulator/control/warehouses/{id}/stop",
            post(stop_warehouse),
        )
}

async fn add_fault(State(s): State<Arc<Shared>>, Json(f): Json<FaultRequest>) -> Response {
    lock(&s.faults).push(f);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    *lock(&s.faults) = Faults::default();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance(State(s): State<Arc<Shared>>, Json(a): Json<Advance>) -> Response {
    s.clock.advance(a.seconds);
    Json(json!({"now": s.clock.now()})).into_response()
}

async fn counters(State(s): State<Arc<Shared>>) -> Response {
    Json(lock(&s.oauth).counters.clone()).into_response()
}

async fn revoke_user(State(s): State<Arc<Shared>>, Path(email): Path<String>) -> Response {
    let families = lock(&s.oauth).revoke_user(&email.to_lowercase());
    Json(json!({"revoked_sessions": families})).into_response()
}

#[derive(Deserialize)]
struct Kill {
    refresh_token: String,
}

async fn kill_refresh(State(s): State<Arc<Shared>>, Json(k): Json<Kill>) -> Response {
    if lock(&s.oauth).kill_refresh_token(&k.refresh_token) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        crate::databricks::errors::not_found("NOT_FOUND", "unknown refresh token")
    }
}

async fn stop_warehouse(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut whs = lock(&s.warehouses);
    match whs.iter_mut().find(|w| w.id == id) {
        Some(w) => {
            w.state = crate::databricks::warehouses::WhState::Stopped;
            StatusCode::NO_CONTENT.into_response()
        }
        None => crate::databricks::errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Warehouse {id} does not exist."),
        ),
    }
}
