use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::Access;
use crate::clock::rfc3339;
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::integrations::discovery::DiscoveryError;
use crate::integrations::service::{
    self, DEFAULT_LIFETIMES, IntegrationError, SaveInput, TokenLifetimes,
};
use crate::integrations::{DATABRICKS_U2M, KINDS, redirect_url};
use crate::secret::Secret;
use crate::store::IntegrationRow;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/integrations",
        Kind::Api,
        Access::Admin,
        "Every available integration kind with its state",
        list,
    );
    reg.add(
        M::Get,
        "/api/v1/integrations/databricks-oauth-u2m",
        Kind::Api,
        Access::Admin,
        "The Databricks OAuth U2M integration (never the secret)",
        show,
    );
    reg.add(
        M::Put,
        "/api/v1/integrations/databricks-oauth-u2m",
        Kind::Api,
        Access::Admin,
        "Create or update the Databricks OAuth U2M integration",
        put,
    );
    reg.body::<PutBody>();
    reg.add(
        M::Delete,
        "/api/v1/integrations/databricks-oauth-u2m",
        Kind::Api,
        Access::Admin,
        "Delete the Databricks OAuth U2M integration",
        delete,
    );
}

/// The integration as the API shows it: never the secret, only whether one is set.
#[derive(Debug, Serialize)]
pub struct IntegrationView {
    pub kind: &'static str,
    pub name: &'static str,
    pub configured: bool,
    pub redirect_url: String,
    pub host: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    pub secret_updated_at: Option<String>,
    pub scopes: Option<String>,
    pub status: &'static str,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    pub refresh_token_lifetime_minutes: i64,
    pub absolute_session_lifetime_minutes: Option<i64>,
}

impl IntegrationView {
    pub fn new(state: &AppState, row: Option<&IntegrationRow>) -> Self {
        let kind = &KINDS[0];
        IntegrationView {
            kind: kind.id,
            name: kind.name,
            configured: row.is_some(),
            redirect_url: redirect_url(&state.web.public_url),
            host: row.map(|r| r.host.clone()),
            client_id: row.map(|r| r.client_id.clone()),
            client_secret_set: row.is_some(),
            secret_updated_at: row.map(|r| rfc3339(r.secret_updated_at)),
            scopes: row.map(|r| r.scopes.clone()),
            status: match row.map(|r| r.status.as_str()) {
                None => "not_configured",
                Some("configured") => "configured",
                Some(_) => "client_rejected",
            },
            updated_at: row.map(|r| rfc3339(r.updated_at)),
            updated_by: row.map(|r| r.updated_by.clone()),
            refresh_token_lifetime_minutes: row
                .map_or(DEFAULT_LIFETIMES.refresh_ttl_minutes, |r| {
                    r.refresh_ttl_minutes
                }),
            absolute_session_lifetime_minutes: row.and_then(|r| r.absolute_lifetime_minutes),
        }
    }
}

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::Invalid(m) => ApiError::bad_request(m),
            e @ IntegrationError::SecretRequired => ApiError::bad_request(e.to_string()),
            IntegrationError::NotConfigured => ApiError::not_found("integration"),
            IntegrationError::Discovery(d @ DiscoveryError::Unreachable(_)) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("Databricks discovery failed: {d}"),
            ),
            IntegrationError::Discovery(d) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "discovery_failed",
                format!("Databricks discovery failed: {d}"),
            ),
            IntegrationError::Crypto(c) => ApiError::internal(c),
            IntegrationError::Store(s) => s.into(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Listed {
    kind: &'static str,
    name: &'static str,
    description: &'static str,
    configured: bool,
    status: &'static str,
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<Listed>>> {
    let row = state.store.integration(&p.org.id, DATABRICKS_U2M).await?;
    let view = IntegrationView::new(&state, row.as_ref());
    Ok(ApiJson(
        KINDS
            .iter()
            .map(|k| Listed {
                kind: k.id,
                name: k.name,
                description: k.description,
                configured: view.configured,
                status: view.status,
            })
            .collect(),
    ))
}

async fn show(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<IntegrationView>> {
    let row = state.store.integration(&p.org.id, DATABRICKS_U2M).await?;
    Ok(ApiJson(IntegrationView::new(&state, row.as_ref())))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PutBody {
    host: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: Option<String>,
    /// As configured on the Databricks app connection (default 10080, i.e. 7 days).
    refresh_token_lifetime_minutes: Option<i64>,
    /// 0 or absent: none.
    absolute_session_lifetime_minutes: Option<i64>,
}

/// Lifetimes from a request: `None` when neither was given (keep what is stored).
pub fn lifetimes_from(refresh: Option<i64>, absolute: Option<i64>) -> Option<TokenLifetimes> {
    if refresh.is_none() && absolute.is_none() {
        return None;
    }
    Some(TokenLifetimes {
        refresh_ttl_minutes: refresh.unwrap_or(DEFAULT_LIFETIMES.refresh_ttl_minutes),
        absolute_lifetime_minutes: absolute.filter(|a| *a > 0),
    })
}

async fn put(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<PutBody>,
) -> ApiResult<ApiJson<IntegrationView>> {
    let input = SaveInput {
        host: body.host,
        client_id: body.client_id,
        client_secret: body
            .client_secret
            .filter(|s| !s.is_empty())
            .map(Secret::new),
        scopes: body.scopes,
        lifetimes: lifetimes_from(
            body.refresh_token_lifetime_minutes,
            body.absolute_session_lifetime_minutes,
        ),
    };
    let row = service::save(
        &state.integration_deps(),
        state.now(),
        &actor,
        &p.org.id,
        input,
    )
    .await?;
    Ok(ApiJson(IntegrationView::new(&state, Some(&row))))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
) -> ApiResult<StatusCode> {
    service::delete(&state.store, state.now(), &actor, &p.org.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
