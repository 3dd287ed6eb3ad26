use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Access, Principal, Scope};
use crate::clock::rfc3339;
use crate::connections::keeper::TokenKeeper;
use crate::connections::{self, ConnectionError, CredentialView, Patch, Purpose, TestReport, flow};
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::store::ConnectionRow;
use crate::warehouse::databricks::{DatabricksError, Warehouse};

pub fn register(reg: &mut Registry) {
    let read = Access::User(Some(Scope::ConnectionsRead));
    let write = Access::User(Some(Scope::ConnectionsWrite));
    reg.add(
        M::Get,
        "/api/v1/connections",
        Kind::Api,
        read,
        "Connections I can see, with my credential's status",
        list,
    );
    reg.add(
        M::Post,
        "/api/v1/connections",
        Kind::Api,
        write,
        "Create a Databricks OAuth U2M connection",
        create,
    );
    reg.body::<CreateBody>();
    reg.add(
        M::Get,
        "/api/v1/connections/{id}",
        Kind::Api,
        read,
        "A connection",
        show,
    );
    reg.add(
        M::Patch,
        "/api/v1/connections/{id}",
        Kind::Api,
        write,
        "Rename, share, or set warehouse, catalog and schema (owner or admin)",
        patch,
    );
    reg.body::<PatchBody>();
    reg.add(
        M::Delete,
        "/api/v1/connections/{id}",
        Kind::Api,
        write,
        "Delete a connection and every credential on it (owner or admin)",
        delete,
    );
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/sign-in",
        Kind::Api,
        read,
        "A one-time link that signs me in to Databricks",
        sign_in,
    );
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/credential",
        Kind::Api,
        read,
        "My credential's status (never tokens)",
        credential,
    );
    reg.add(
        M::Delete,
        "/api/v1/connections/{id}/credential",
        Kind::Api,
        read,
        "Disconnect me",
        disconnect,
    );
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/access-token",
        Kind::Api,
        Access::User(Some(Scope::TokensVend)),
        "A fresh access token from my own credential, for another service to call Databricks",
        access_token,
    );
    reg.optional_body::<VendBody>();
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/test",
        Kind::Api,
        Access::User(Some(Scope::QueriesRun)),
        "Identity, warehouse state and SELECT 1",
        test,
    );
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/warehouses",
        Kind::Api,
        read,
        "SQL warehouses I can see",
        warehouses,
    );
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs",
        Kind::Api,
        read,
        "Unity Catalog catalogs I can see",
        catalogs,
    );
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas",
        Kind::Api,
        read,
        "Schemas of a catalog",
        schemas,
    );
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/catalogs/{catalog}/schemas/{schema}/tables",
        Kind::Api,
        read,
        "Tables of a schema, with columns",
        tables,
    );
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        let msg = e.to_string();
        match e {
            ConnectionError::Invalid(m) => ApiError::bad_request(m),
            ConnectionError::NotFound => ApiError::not_found("connection"),
            ConnectionError::NoIntegration => {
                ApiError::new(StatusCode::CONFLICT, "integration_not_configured", msg)
            }
            ConnectionError::Forbidden(m) => ApiError::forbidden(m),
            ConnectionError::NotSignedIn => {
                ApiError::new(StatusCode::CONFLICT, "not_signed_in", msg)
            }
            ConnectionError::ReauthRequired(_) => {
                ApiError::new(StatusCode::CONFLICT, "reauth_required", msg)
            }
            ConnectionError::Databricks(DatabricksError::TokenRejected(_)) => {
                ApiError::new(StatusCode::CONFLICT, "reauth_required", msg)
            }
            ConnectionError::Databricks(
                DatabricksError::PermissionDenied(_) | DatabricksError::NotFound(_),
            ) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "databricks_denied", msg),
            // Databricks refused the request itself (a bad warehouse id, an unknown option).
            ConnectionError::Databricks(DatabricksError::Upstream { status, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "databricks_rejected", msg)
            }
            ConnectionError::Databricks(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", msg)
            }
            ConnectionError::Integration(i) => i.into(),
            ConnectionError::Crypto(c) => ApiError::internal(c),
            ConnectionError::Store(s) => s.into(),
        }
    }
}

/// A connection as the API shows it, with the caller's own credential status.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub auth: String,
    pub host: String,
    pub owner_id: String,
    pub mine: bool,
    pub shared: bool,
    pub warehouse_id: Option<String>,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub created_at: String,
    pub credential: CredentialView,
}

pub async fn view(
    state: &AppState,
    p: &Principal,
    c: ConnectionRow,
) -> Result<ConnectionView, ConnectionError> {
    let credential = connections::credential_view(state, p, &c).await?;
    Ok(ConnectionView {
        mine: c.owner_id == p.user.id,
        shared: c.shared != 0,
        created_at: rfc3339(c.created_at),
        id: c.id,
        name: c.name,
        provider: c.provider,
        auth: c.auth,
        host: c.host,
        owner_id: c.owner_id,
        warehouse_id: c.warehouse_id,
        catalog: c.catalog,
        schema: c.schema_name,
        credential,
    })
}

async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<ApiJson<Vec<ConnectionView>>> {
    let mut out = Vec::new();
    for c in state
        .store
        .visible_connections(&p.org.id, &p.user.id)
        .await?
    {
        out.push(view(&state, &p, c).await?);
    }
    Ok(ApiJson(out))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    provider: String,
    auth: String,
    warehouse_id: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    #[serde(default)]
    shared: bool,
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, ApiJson<ConnectionView>)> {
    if b.provider != "databricks" || b.auth != "oauth-u2m" {
        return Err(ApiError::bad_request(
            "only provider \"databricks\" with auth \"oauth-u2m\" is available",
        ));
    }
    let c = connections::create(&state, &p, &actor, &b.name, b.shared).await?;
    let c = if b.warehouse_id.is_some() || b.catalog.is_some() || b.schema.is_some() {
        let patch = Patch {
            warehouse_id: b.warehouse_id,
            catalog: b.catalog,
            schema: b.schema,
            ..Patch::default()
        };
        connections::update(&state, &p, &actor, &c.id, patch).await?
    } else {
        c
    };
    Ok((StatusCode::CREATED, ApiJson(view(&state, &p, c).await?)))
}

async fn show(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<ConnectionView>> {
    let c = connections::load(&state, &p, &id, Purpose::See).await?;
    Ok(ApiJson(view(&state, &p, c).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    warehouse_id: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    shared: Option<bool>,
}

async fn patch(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<ApiJson<ConnectionView>> {
    let patch = Patch {
        name: b.name,
        warehouse_id: b.warehouse_id,
        catalog: b.catalog,
        schema: b.schema,
        shared: b.shared,
    };
    let c = connections::update(&state, &p, &actor, &id, patch).await?;
    Ok(ApiJson(view(&state, &p, c).await?))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    connections::delete(&state, &p, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    return_path: Option<String>,
}

#[derive(Serialize)]
struct SignInLink {
    sign_in_url: String,
    expires_in: i64,
}

async fn sign_in(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<SignInLink>> {
    let c = connections::load(&state, &p, &id, Purpose::Use).await?;
    let default = format!("/connections/{}", c.id);
    // The body is optional: `{}` or nothing takes the connection page as return path.
    let parsed: SignInBody = if body.iter().all(u8::is_ascii_whitespace) {
        SignInBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let requested = parsed.return_path;
    let return_path = match requested.as_deref() {
        None => default,
        Some(r)
            if r.starts_with('/')
                && !r.starts_with("//")
                && !r.contains('\\')
                && !r.chars().any(char::is_control) =>
        {
            r.to_owned()
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "return_path must be a path on this site, such as /connections",
            ));
        }
    };
    let url = flow::ticket(&state, &p.user, &c, &return_path).await?;
    Ok(ApiJson(SignInLink {
        sign_in_url: url,
        expires_in: flow::TICKET_TTL_SECONDS,
    }))
}

async fn credential(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<CredentialView>> {
    let c = connections::load(&state, &p, &id, Purpose::Use).await?;
    Ok(ApiJson(connections::credential_view(&state, &p, &c).await?))
}

async fn disconnect(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    connections::disconnect(&state, &p, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<TestReport>> {
    Ok(ApiJson(connections::test(&state, &p, &id).await?))
}

/// Calls Databricks with the caller's own credential on a connection they may use.
async fn keeper(state: &AppState, p: &Principal, id: &str) -> ApiResult<TokenKeeper> {
    let c = connections::load(state, p, id, Purpose::Use).await?;
    Ok(TokenKeeper::for_caller(state, p, &c).await?)
}

#[derive(Serialize)]
struct Warehouses {
    warehouses: Vec<Warehouse>,
}

async fn warehouses(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Warehouses>> {
    let list = keeper(&state, &p, &id).await?.warehouses().await?;
    Ok(ApiJson(Warehouses { warehouses: list }))
}

#[derive(Serialize)]
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

#[derive(Serialize)]
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
    min_remaining_seconds: Option<i64>,
}

#[derive(Serialize)]
struct Vended {
    access_token: String,
    token_type: &'static str,
    expires_at: String,
    host: String,
}

/// Token vending: a fresh access token from the caller's own credential, for another
/// service of the platform to call Databricks as this user.
async fn access_token(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<Vended>> {
    let b: VendBody = if body.iter().all(u8::is_ascii_whitespace) {
        VendBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let min = b.min_remaining_seconds.unwrap_or(300);
    if !(0..=3000).contains(&min) {
        return Err(ApiError::bad_request(
            "min_remaining_seconds must be between 0 and 3000",
        ));
    }
    state
        .vend_limiter
        .check(&p.user.id, state.now())
        .map_err(|r| ApiError::rate_limited(r.0))?;
    let c = connections::load(&state, &p, &id, Purpose::Use).await?;
    let fresh =
        connections::refresh::fresh_token(&state, &c.id, &p.user.id, &p.org.id, min).await?;
    state.metrics.vended();
    state
        .store
        .touch_credential_use(&fresh.credential.id, state.now())
        .await?;
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
        host: fresh.credential.host,
    }))
}
