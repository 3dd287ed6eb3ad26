//! `/api/v1/integrations/databricks-oauth-u2m/hosts`: the other workspaces of the account
//! one Databricks app connection serves, added (each checked like the first) and removed
//! by an admin.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::auth::{Access, Principal};
use crate::clock::rfc3339;
use crate::http::error::{ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers::databricks::U2M;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Post,
        "/api/v1/integrations/databricks-oauth-u2m/hosts",
        Kind::Api,
        Access::Admin,
        "Add a workspace of the account to the Databricks integration (checked like its first)",
        add,
    );
    reg.body::<AddBody>();
    reg.answers::<HostView>(201);
    reg.add(
        M::Delete,
        "/api/v1/integrations/databricks-oauth-u2m/hosts/{host}",
        Kind::Api,
        Access::Admin,
        "Remove an added workspace, and the credentials issued there",
        remove,
    );
    reg.answers_empty(204);
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    /// Another workspace of the same Databricks account (`dbc-….cloud.databricks.com`).
    #[schemars(length(min = 1, max = 300))]
    host: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct HostView {
    host: String,
    added_at: String,
    added_by: String,
}

/// Adds a workspace; shared by the API and the integration page.
pub(crate) async fn add_host(
    state: &AppState,
    p: &Principal,
    actor: &Actor,
    host: &str,
) -> ApiResult<crate::store::IntegrationHostRow> {
    Ok(state
        .services
        .integrations
        .add_host(&U2M, actor, &p.org.id, host)
        .await?)
}

async fn add(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<AddBody>,
) -> ApiResult<(StatusCode, ApiJson<HostView>)> {
    let h = add_host(&state, &p, &actor, &b.host).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(HostView {
            host: h.host,
            added_at: rfc3339(h.added_at),
            added_by: h.added_by,
        }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(host): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .integrations
        .remove_host(&U2M, &actor, &p.org.id, &host)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
