use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::http::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::{AuditFilter, AuditRow};

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
        Ok(AuditFilter {
            since,
            action: nonempty(&self.action),
            actor: nonempty(&self.actor),
            limit,
        })
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditView {
    pub id: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        AuditView {
            id: r.id,
            time: rfc3339(r.at),
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
struct AuditPage {
    events: Vec<AuditView>,
}

async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<AuditPage>> {
    let rows = state.store.list_audit(&p.org.id, &q.to_filter()?).await?;
    Ok(ApiJson(AuditPage {
        events: rows.into_iter().map(AuditView::from).collect(),
    }))
}
