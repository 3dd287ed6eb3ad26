//! Faults as a Snowflake account answers them: the SQL API's `{code, message}` and the
//! token endpoint's `{data, message, code, success, error}` (the injection itself is
//! `engine::inject`). The bodies of 429 and 5xx are not documented [?]: these follow the
//! shapes Snowflake uses for its other errors.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::engine::faults::Target;
use crate::state::Shared;

fn sql_body(status: StatusCode, code: Option<String>, message: Option<String>) -> Value {
    json!({
        "code": code.unwrap_or_else(|| "000000".into()),
        "message": message.unwrap_or_else(|| format!("Injected fault: {status}")),
    })
}

fn token_body(status: StatusCode, code: Option<String>, message: Option<String>) -> Value {
    json!({
        "data": null,
        "code": code,
        "message": message.unwrap_or_else(|| format!("Injected fault: {status}")),
        "success": false,
        "error": "server_error",
    })
}

/// The next fault for the SQL API (`Target::Rest`), if any.
pub async fn sql_api(s: &Shared) -> Option<Response> {
    crate::engine::inject::inject(s, Target::Rest, sql_body).await
}

/// The next fault for `/oauth/token-request` (`Target::Token`), if any.
pub async fn token(s: &Shared) -> Option<Response> {
    crate::engine::inject::inject(s, Target::Token, token_body).await
}
