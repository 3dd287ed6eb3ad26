//! The control API (off unless enabled): inject faults into the next N token or REST
//! calls, revoke a user's tokens, kill one refresh token, advance the clock, read counters.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::state::{Shared, lock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `POST /oidc/v1/token`.
    Token,
    /// Every `/api/` call.
    Rest,
    /// Downloads of EXTERNAL_LINKS results from the emulated cloud storage.
    Storage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (429 and 503 get Databricks' error bodies).
    /// `error_code` and `message` replace the defaults, e.g. a 403 "Invalid access token.".
    Status {
        status: u16,
        retry_after: Option<u64>,
        error_code: Option<String>,
        message: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay { ms: u64 },
    /// 200 with a truncated JSON body.
    Malformed,
    /// Drop the connection mid-response.
    Reset,
    /// Answer normally but leave `refresh_token` out (as for an app without offline_access).
    OmitRefreshToken,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FaultRequest {
    pub target: Target,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many calls in a row get the fault.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Typed faults for tests (the control API takes the same as JSON).
impl FaultRequest {
    /// Answer `status` (429 and 503 with Databricks' error bodies).
    pub fn status(target: Target, status: u16) -> Self {
        Self::of(
            target,
            FaultKind::Status {
                status,
                retry_after: None,
                error_code: None,
                message: None,
            },
        )
    }

    /// A 200 with a truncated JSON body.
    pub fn malformed(target: Target) -> Self {
        Self::of(target, FaultKind::Malformed)
    }

    /// The connection dropped mid-response.
    pub fn reset(target: Target) -> Self {
        Self::of(target, FaultKind::Reset)
    }

    /// A delay of `ms` before the normal answer.
    pub fn delay(target: Target, ms: u64) -> Self {
        Self::of(target, FaultKind::Delay { ms })
    }

    /// A token answer without `refresh_token`.
    pub fn omit_refresh_token() -> Self {
        Self::of(Target::Token, FaultKind::OmitRefreshToken)
    }

    fn of(target: Target, kind: FaultKind) -> Self {
        FaultRequest {
            target,
            kind,
            count: 1,
        }
    }

    /// The next `count` calls get the fault.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// A `Retry-After` on a status fault.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(seconds);
        }
        self
    }

    /// The error body of a status fault: Databricks' `error_code` and `message`.
    pub fn body(mut self, code: Option<&str>, text: &str) -> Self {
        if let FaultKind::Status {
            error_code,
            message,
            ..
        } = &mut self.kind
        {
            *error_code = code.map(str::to_owned);
            *message = Some(text.to_owned());
        }
        self
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    queue: VecDeque<FaultRequest>,
}

impl Faults {
    pub fn push(&mut self, f: FaultRequest) {
        self.queue.push_back(f);
    }
    /// Takes one use of the first fault for `target`.
    /// Takes one use of the first fault for `target` that `pred` accepts.
    fn take_if(&mut self, target: Target, pred: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        let pos = self
            .queue
            .iter()
            .position(|f| f.target == target && pred(&f.kind))?;
        let f = self.queue.get_mut(pos)?;
        let kind = f.kind.clone();
        f.count = f.count.saturating_sub(1);
        if f.count == 0 {
            self.queue.remove(pos);
        }
        Some(kind)
    }
}

/// Whether the next token response should leave out its refresh token.
pub fn omit_refresh_token(s: &Shared) -> bool {
    lock(&s.faults)
        .take_if(Target::Token, |k| matches!(k, FaultKind::OmitRefreshToken))
        .is_some()
}

/// Applies the next fault for `target`, if any: `Some(response)` replaces the real answer.
pub async fn inject(s: &Shared, target: Target) -> Option<Response> {
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
            let code = match status.as_u16() {
                429 => "REQUEST_LIMIT_EXCEEDED",
                503 => "TEMPORARILY_UNAVAILABLE",
                _ => "INTERNAL_ERROR",
            };
            let mut resp = (
                status,
                Json(json!({
                    "error_code": error_code.unwrap_or_else(|| code.to_owned()),
                    "message": message.unwrap_or_else(|| format!("Injected fault: {status}")),
                })),
            )
                .into_response();
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
        crate::errors::not_found("NOT_FOUND", "unknown refresh token")
    }
}

async fn stop_warehouse(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut whs = lock(&s.warehouses);
    match whs.iter_mut().find(|w| w.id == id) {
        Some(w) => {
            w.state = crate::warehouses::WhState::Stopped;
            StatusCode::NO_CONTENT.into_response()
        }
        None => crate::errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Warehouse {id} does not exist."),
        ),
    }
}
