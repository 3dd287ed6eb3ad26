//! Injected faults answered over HTTP, in each vendor's error shape: a status with the
//! vendor's body, a truncated body, a dropped connection, a delay.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::engine::faults::{FaultKind, Target};
use crate::state::{Shared, lock};

/// A vendor's error body for an injected status: `(status, error_code, message)`, where
/// the last two are what the test asked for, if anything.
pub type ErrorBody = fn(StatusCode, Option<String>, Option<String>) -> Value;

/// Applies the next fault for `target`, if any: `Some(response)` replaces the real answer.
pub async fn inject(s: &Shared, target: Target, body: ErrorBody) -> Option<Response> {
    let kind = lock(&s.faults).take_if(target, |k| !matches!(k, FaultKind::OmitRefreshToken))?;
    match kind {
        FaultKind::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        FaultKind::Status {
            status,
            retry_after,
            error_code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (status, Json(body(status, error_code, message))).into_response();
            if let Some(secs) = retry_after.and_then(|r| HeaderValue::from_str(&r.to_string()).ok())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, secs);
            }
            Some(resp)
        }
        FaultKind::Malformed => Some(
            (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"access_token\": \"trunc",
            )
                .into_response(),
        ),
        // Applied by the token endpoint itself, after the real answer is built.
        FaultKind::OmitRefreshToken => None,
        FaultKind::Reset => {
            let failing = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other("injected reset"))
            });
            Some(Response::new(Body::from_stream(failing)))
        }
    }
}
