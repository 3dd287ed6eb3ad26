//! The caller's organization and what its admins set for it as a whole.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::clock::rfc3339;
use crate::http::error::{ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/org",
        Kind::Api,
        Access::Admin,
        "My organization and its settings",
        show,
    );
    reg.answers::<OrgView>(200);
    reg.add(
        M::Patch,
        "/api/v1/org",
        Kind::Api,
        Access::Admin,
        "Change the origins connect sessions may return to",
        update,
    );
    reg.body::<OrgPatch>();
    reg.answers::<OrgView>(200);
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OrgView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
    /// The exact origins a connect session's `return_url` may use.
    pub allowed_return_origins: Vec<String>,
}

async fn view(state: &AppState, org: &crate::accounts::Org) -> ApiResult<OrgView> {
    Ok(OrgView {
        id: org.id.clone(),
        slug: org.slug.clone(),
        name: org.name.clone(),
        created_at: rfc3339(org.created_at),
        allowed_return_origins: state.store.return_origins(&org.id).await?,
    })
}

async fn show(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<OrgView>> {
    Ok(ApiJson(view(&state, &p.org).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrgPatch {
    /// Scheme, host and port only (`https://app.example.com`); https except on loopback.
    #[schemars(length(max = 20), inner(regex(pattern = r"^https?://[^/?#@\s]+/?$")))]
    allowed_return_origins: Vec<String>,
}

async fn update(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<OrgPatch>,
) -> ApiResult<ApiJson<OrgView>> {
    state
        .services
        .accounts
        .set_return_origins(&actor, &p.org, &body.allowed_return_origins)
        .await?;
    Ok(ApiJson(view(&state, &p.org).await?))
}
