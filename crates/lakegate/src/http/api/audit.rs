use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::http::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::{AuditFilter, AuditRow};

pub use super::audit_names::Names;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/audit",
        Kind::Api,
        Access::Admin,
        "The org's audit log, newest first",
        list,
    );
    reg.query::<AuditQuery>();
    reg.answers::<AuditPage>(200);
}

pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// RFC 3339; empty means no bound.
    #[schemars(extend("anyOf" = [{"type": "string", "format": "date-time"}, {"const": ""}]))]
    pub since: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// A user's id: events they did or that were done to them.
    #[schemars(extend("pattern" = "^[0-9A-Za-z-]*$"), length(max = 64))]
    pub user: Option<String>,
    /// A connection's id: events about it.
    #[schemars(length(max = 64))]
    pub connection: Option<String>,
    /// Events older than this id (`next_before` of the previous page).
    #[schemars(range(min = 1))]
    pub before: Option<i64>,
    /// Default 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

impl AuditQuery {
    /// Validates the query into a store filter.
    pub fn to_filter(&self) -> Result<AuditFilter, ApiError> {
        let since = match self.since.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(parse_rfc3339(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "since must be an RFC 3339 time such as 2026-01-31T00:00:00Z, got {s:?}"
                ))
            })?),
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let user_id = nonempty(&self.user);
        if user_id.as_deref().is_some_and(|u| {
            u.len() > 64 || !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) {
            return Err(ApiError::bad_request("user must be a user's id"));
        }
        super::query_views::connection_filter(self.connection.as_deref())?;
        if self.before.is_some_and(|b| b < 1) {
            return Err(ApiError::bad_request("before must be an event id"));
        }
        Ok(AuditFilter {
            since,
            action: nonempty(&self.action),
            actor: nonempty(&self.actor),
            user_id,
            target: nonempty(&self.connection),
            before: self.before,
            limit,
        })
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditView {
    pub id: i64,
    pub time: String,
    pub actor: String,
    /// The actor with user ids as emails, when any has one.
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The target's name (a user's email, a connection's name), when it has one.
    pub target_name: Option<String>,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl AuditView {
    /// A row with its names.
    pub fn named(r: AuditRow, names: &Names) -> Self {
        AuditView {
            id: r.id,
            time: rfc3339(r.at),
            actor_name: names.actor(&r.actor),
            target_name: r.target.as_deref().and_then(|t| names.target(t)),
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            client_ip: r.client_ip,
            request_id: r.request_id,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    /// `before` for the next (older) page; null on the last one.
    pub next_before: Option<i64>,
}

/// One page of `org_id`'s log as `filter` selects it, with names.
pub async fn page(state: &AppState, org_id: &str, filter: &AuditFilter) -> ApiResult<AuditPage> {
    let rows = state.store.list_audit(org_id, filter).await?;
    let full = rows.len() as i64 == filter.limit;
    let next_before = rows.last().map(|r| r.id).filter(|_| full);
    let names = Names::of_org(state, org_id).await?;
    Ok(AuditPage {
        events: rows
            .into_iter()
            .map(|r| AuditView::named(r, &names))
            .collect(),
        next_before,
    })
}

async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<AuditPage>> {
    Ok(ApiJson(page(&state, &p.org.id, &q.to_filter()?).await?))
}
