//! Request ids, access logs and metrics. Logs carry the route template, never the raw
//! URI: query strings may hold OAuth codes and states.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::guard::RouteName;
use crate::http::state::AppState;

const REQUEST_ID: &str = "x-request-id";

pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Keep a proxy's request id when it looks like one; otherwise mint our own, so a
    // client cannot write arbitrary text into our logs.
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let id_header =
        HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(REQUEST_ID, id_header.clone());
    let method = req.method().clone();
    // Timing only for the latency metric; no decision depends on it.
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let elapsed = started.elapsed();
    let route = resp
        .extensions()
        .get::<RouteName>()
        .map_or("unmatched", |r| r.0);
    let status = resp.status().as_u16();
    state
        .metrics
        .observe(method.as_str(), route, status, elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status,
        latency_ms = elapsed.as_millis() as u64,
        "request"
    );
    resp.headers_mut().insert(REQUEST_ID, id_header);
    resp
}

fn is_request_id(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
