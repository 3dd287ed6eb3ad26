//! The cloud storage behind EXTERNAL_LINKS results, as S3 presigned URLs behave: the link
//! itself is the credential (a signature over the statement, chunk and issue time, valid
//! 15 minutes); a request that also carries an `Authorization` header is refused, as S3
//! refuses "more than one auth mechanism" — so a client that leaks its Databricks token to
//! storage fails loudly here (and the counters say so).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::databricks::faults as control;
use crate::databricks::statements::StoredChunk;
use crate::engine::faults::Target;
use crate::state::{Shared, lock};

/// How long a presigned link works (Databricks: about 15 minutes).
pub const LINK_TTL_SECONDS: i64 = 900;

pub fn new_link_key() -> String {
    crate::engine::authz::random_id(32)
}

fn signature(key: &str, id: &str, chunk: usize, issued: i64) -> String {
    let digest = Sha256::digest(format!("{key}:{id}:{chunk}:{issued}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One entry of a chunk's `external_links`.
pub fn link_json(
    base: &str,
    id: &str,
    key: &str,
    chunk: usize,
    row_offset: usize,
    row_count: usize,
    now: i64,
) -> Value {
    let sig = signature(key, id, chunk, now);
    json!({
        "chunk_index": chunk,
        "row_offset": row_offset,
        "row_count": row_count,
        "external_link": format!(
            "{base}/emulator/storage/{id}/{chunk}?X-Amz-Date={now}&X-Amz-Expires={LINK_TTL_SECONDS}&X-Amz-Signature={sig}"
        ),
        "expiration": crate::engine::clock::rfc3339(now + LINK_TTL_SECONDS),
        "http_headers": {},
    })
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
        .into_response()
}

async fn download(
    State(s): State<Arc<Shared>>,
    Path((id, chunk)): Path<(String, usize)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let with_auth = headers.contains_key(header::AUTHORIZATION);
    {
        let mut o = lock(&s.oauth);
        o.counters.storage_requests += 1;
        if with_auth {
            o.counters.storage_requests_with_authorization += 1;
        }
    }
    if let Some(resp) = control::inject(&s, Target::Storage).await {
        return resp;
    }
    if with_auth {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    let issued = q.get("X-Amz-Date").and_then(|d| d.parse::<i64>().ok());
    let (Some(issued), Some(sig)) = (issued, q.get("X-Amz-Signature")) else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    };
    let Some((key, stored)) = crate::databricks::statements::external_chunk(&s, &id, chunk) else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    if &signature(&key, &id, chunk, issued) != sig {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if s.clock.now() > issued + LINK_TTL_SECONDS {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    match stored {
        StoredChunk::Json(rows) => (
            [(header::CONTENT_TYPE, "application/json")],
            axum::Json(rows),
        )
            .into_response(),
        StoredChunk::Arrow(columns, rows) => {
            match crate::databricks::arrow::ipc_stream(&columns, &rows) {
                Ok(bytes) => {
                    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
                }
                Err(e) => s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    &e.to_string(),
                ),
            }
        }
    }
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/emulator/storage/{id}/{chunk}", get(download))
}
