//! What every front-end's token endpoint does around its own rules: count the call in
//! flight, let an injected fault (in the vendor's words) answer instead, count it by grant
//! type, and read HTTP Basic client credentials — raw (Snowflake's connector) or each part
//! form-encoded first (RFC 6749 §2.3.1).

use std::future::Future;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine as _;

use crate::state::{Shared, lock};

/// Runs one token request: `fault` may answer instead; otherwise `answer` does.
pub async fn run(
    s: &Shared,
    grant_type: &str,
    fault: impl Future<Output = Option<Response>>,
    answer: impl FnOnce() -> Response,
) -> Response {
    lock(&s.oauth).token_call_started();
    let resp = match fault.await {
        Some(fault) => fault,
        None => {
            lock(&s.oauth).count_grant(grant_type);
            answer()
        }
    };
    lock(&s.oauth).token_call_ended();
    resp
}

/// One part of a Basic header, form-decoded.
pub fn form_decoded(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Authorization: Basic base64(id:secret)` as (id, secret); each part form-decoded when
/// `form_encoded`, taken byte for byte otherwise.
pub fn basic(headers: &HeaderMap, form_encoded: bool) -> Option<(String, String)> {
    let b64 = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some(if form_encoded {
        (form_decoded(id), form_decoded(secret))
    } else {
        (id.to_owned(), secret.to_owned())
    })
}
