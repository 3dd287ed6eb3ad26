//! Databricks' error forms: the REST envelope, the numeric-code invalid-token answer, and
//! the OAuth token endpoint's `{error, error_description}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `{"error_code":"<CODE>","message":"…"}` with a status.
pub fn rest(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message.into()})),
    )
        .into_response()
}

pub fn invalid_parameter(message: impl Into<String>) -> Response {
    rest(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

pub fn not_found(code: &str, message: impl Into<String>) -> Response {
    rest(StatusCode::NOT_FOUND, code, message)
}

/// 403 with a *numeric* `error_code`, as Databricks answers unknown or expired tokens.
pub fn invalid_token(message: &'static str) -> Response {
    let mut resp = (
        StatusCode::FORBIDDEN,
        Json(json!({"error_code": 403, "message": message})),
    )
        .into_response();
    resp.headers_mut().insert(
        "x-databricks-reason-phrase",
        HeaderValue::from_static(message),
    );
    resp
}

/// OAuth errors of the token endpoint.
pub fn oauth(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}
