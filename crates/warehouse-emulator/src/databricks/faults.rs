//! Faults as Databricks answers them: its error bodies for 429 and 503 (the rest of the
//! injection is `engine::inject`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::engine::faults::{FaultKind, Target};
use crate::state::{Shared, lock};

/// Whether the next token response should leave out its refresh token.
pub fn omit_refresh_token(s: &Shared) -> bool {
    lock(&s.faults)
        .take_if(Target::Token, |k| matches!(k, FaultKind::OmitRefreshToken))
        .is_some()
}

fn body(status: StatusCode, error_code: Option<String>, message: Option<String>) -> Value {
    let code = match status.as_u16() {
        429 => "REQUEST_LIMIT_EXCEEDED",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    json!({
        "error_code": error_code.unwrap_or_else(|| code.to_owned()),
        "message": message.unwrap_or_else(|| format!("Injected fault: {status}")),
    })
}

/// Applies the next fault for `target`, if any, in Databricks' words.
pub async fn inject(s: &Shared, target: Target) -> Option<Response> {
    crate::engine::inject::inject(s, target, body).await
}
