//! Faults as Google answers them: the token endpoint's RFC 6749 body, and the APIs'
//! `{"error": {code, message, errors, status}}` envelope (the injection itself is
//! `engine::inject`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::engine::faults::Target;
use crate::state::Shared;

fn token_body(status: StatusCode, code: Option<String>, message: Option<String>) -> Value {
    json!({
        "error": code.unwrap_or_else(|| "internal_failure".into()),
        "error_description": message.unwrap_or_else(|| format!("Injected fault: {status}")),
    })
}

/// Google's API error envelope for `status` (`reason` and `message` as a test asked).
pub fn envelope(status: StatusCode, reason: Option<String>, message: Option<String>) -> Value {
    let (default_reason, rpc) = match status.as_u16() {
        429 => ("rateLimitExceeded", "RESOURCE_EXHAUSTED"),
        500 | 503 => ("backendError", "UNAVAILABLE"),
        401 => ("authError", "UNAUTHENTICATED"),
        403 => ("accessDenied", "PERMISSION_DENIED"),
        404 => ("notFound", "NOT_FOUND"),
        _ => ("invalid", "INVALID_ARGUMENT"),
    };
    let reason = reason.unwrap_or_else(|| default_reason.into());
    let message = message.unwrap_or_else(|| format!("Injected fault: {status}"));
    json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": rpc,
    }})
}

/// The next fault for `/token` (`Target::Token`), if any.
pub async fn token(s: &Shared) -> Option<Response> {
    crate::engine::inject::inject(s, Target::Token, token_body).await
}

/// The next fault for the BigQuery API (`Target::Rest`), if any.
pub async fn api(s: &Shared) -> Option<Response> {
    crate::engine::inject::inject(s, Target::Rest, envelope).await
}
