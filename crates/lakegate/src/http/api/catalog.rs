//! Using one's own credential on a connection: Test connection, the compute and catalog
//! pickers, and token vending for the platform's other services.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Principal, Scope};
use crate::clock::rfc3339;
use crate::connections::{Purpose, RanAs, TestReport};
use crate::http::error::{ApiError, ApiJson, ApiResult, optional_json};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers;
use crate::store::ConnectionRow;
use crate::tokens::keeper::TokenKeeper;
use crate::warehouse::Compute;

pub fn register(reg: &mut Registry) {
    let read = Access::User(Some(Scope::ConnectionsRead));
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/access-token",
        Kind::Api,
        Access::User(Some(Scope::TokensVend)),
        "A fresh access token from my own credential, for another service to call Databricks",
        access_token,
    );
    reg.answers::<Vended>(200);
    reg.optional_body::<VendBody>();
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/test",
        Kind::Api,
        Access::User(Some(Scope::QueriesRun)),
        "Identity, warehouse state and SELECT 1",
        test,
    );
    reg.answers::<TestReport>(200);
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/warehouses",
        Kind::Api,
        read,
        "SQL warehouses I can see",
        warehouses,
    );
    reg.answers::<Warehouses>(200);
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs",
        Kind::Api,
        read,
        "Unity Catalog catalogs I can see",
        catalogs,
    );
    reg.answers::<Names>(200);
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas",
        Kind::Api,
        read,
        "Schemas of a catalog",
        schemas,
    );
    reg.answers::<Names>(200);
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas/{schema}/tables",
        Kind::Api,
        read,
        "Tables of a schema, with columns",
        tables,
    );
    reg.answers::<Tables>(200);
}

async fn test(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<TestReport>> {
    Ok(ApiJson(state.services.connections.test(&p, &id).await?))
}

/// Calls the warehouse with the caller's own credential on a connection they may use.
async fn keeper(state: &AppState, p: &Principal, id: &str) -> ApiResult<TokenKeeper> {
    let connections = &state.services.connections;
    let c = connections.load(p, id, Purpose::Use).await?;
    Ok(connections.keeper(p, &c).await?)
}

#[derive(Serialize, schemars::JsonSchema)]
struct Warehouses {
    warehouses: Vec<Compute>,
}

async fn warehouses(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Warehouses>> {
    let list = keeper(&state, &p, &id).await?.warehouses().await?;
    Ok(ApiJson(Warehouses { warehouses: list }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Names {
    names: Vec<String>,
}

async fn catalogs(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Names>> {
    let names = keeper(&state, &p, &id).await?.catalogs().await?;
    Ok(ApiJson(Names { names }))
}

async fn schemas(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((id, catalog)): Path<(String, String)>,
) -> ApiResult<ApiJson<Names>> {
    let names = keeper(&state, &p, &id).await?.schemas(&catalog).await?;
    Ok(ApiJson(Names { names }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Tables {
    tables: Vec<serde_json::Value>,
}

async fn tables(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((id, catalog, schema)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<Tables>> {
    let tables = keeper(&state, &p, &id)
        .await?
        .tables(&catalog, &schema)
        .await?;
    Ok(ApiJson(Tables { tables }))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VendBody {
    /// Default 300.
    #[serde(default, deserialize_with = "crate::field_rules::whole_number")]
    #[schemars(range(min = 0, max = 3000))]
    min_remaining_seconds: Option<i64>,
    /// Vend the connection's fallback (a service principal's token, where its vending is
    /// on) if my own credential needs a sign-in; `ran_as` says whose token it is.
    #[serde(default)]
    allow_fallback: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Vended {
    access_token: String,
    token_type: &'static str,
    expires_at: String,
    host: String,
    /// Whose token it is.
    ran_as: RanAs,
}

/// Refuses to vend a shared identity's token unless an administrator turned that on for
/// its connection: a service principal's or a token owner's access would otherwise leave
/// Lakegate with whoever may use the connection.
fn check_vending(c: &ConnectionRow) -> ApiResult<()> {
    if providers::shared_identity(&c.provider, &c.auth) && !c.token_vending {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "token_vending_off",
            format!(
                "connection {} runs as a shared identity and its tokens are not vended; an administrator can turn token vending on for it",
                c.id
            ),
        ));
    }
    Ok(())
}

/// Token vending: a fresh access token from the caller's own credential, for another
/// service of the platform to call the warehouse as this user.
async fn access_token(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<Vended>> {
    let b: VendBody = optional_json(&body)?;
    let min = b.min_remaining_seconds.unwrap_or(300);
    if !(0..=3000).contains(&min) {
        return Err(ApiError::bad_request(
            "min_remaining_seconds must be between 0 and 3000",
        ));
    }
    state
        .vend_limiter
        .check(&p.user.id, state.now())
        .await?
        .map_err(|r| ApiError::rate_limited(r.0))?;
    let c = state
        .services
        .connections
        .load(&p, &id, Purpose::Use)
        .await?;
    check_vending(&c)?;
    let tokens = &state.services.tokens;
    let chosen = state
        .services
        .connections
        .with_fallback(&p, &actor, &c, b.allow_fallback, |h| async move {
            tokens.fresh_for_vending(&h, min).await
        })
        .await?;
    check_vending(&chosen.connection)?;
    let fresh = chosen.value;
    state.metrics.vended();
    tokens.touch(&fresh.credential).await?;
    if fresh.expires_at - state.now() < min {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "token_unavailable",
            "no access token with that much time left is available yet; try again shortly",
        ));
    }
    Ok(ApiJson(Vended {
        access_token: fresh.token.expose().to_owned(),
        token_type: "Bearer",
        expires_at: rfc3339(fresh.expires_at),
        ran_as: RanAs {
            identity: fresh.credential.databricks_user_name.clone(),
            connection_id: chosen.connection.id,
            fallback: chosen.fallback,
        },
        host: fresh.credential.host,
    }))
}
