//! Connections: create, read, change, delete, and the caller's own sign-in and credential.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::auth::{Access, Principal, Scope};
use crate::clock::rfc3339;
use crate::connections::flow::TICKET_TTL_SECONDS;
use crate::connections::{ConnectionError, CredentialView, Patch, Purpose};
use crate::field_rules as rules;
use crate::http::error::{ApiError, ApiJson, ApiResult, optional_json};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers;
use crate::store::ConnectionRow;

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
    reg.answers::<Vec<ConnectionView>>(200);
    reg.add(
        M::Post,
        "/api/v1/connections",
        Kind::Api,
        write,
        "Create a Databricks OAuth U2M connection",
        create,
    );
    reg.answers::<ConnectionView>(201);
    reg.body::<CreateBody>();
    reg.add(
        M::Get,
        "/api/v1/connections/{id}",
        Kind::Api,
        read,
        "A connection",
        show,
    );
    reg.answers::<ConnectionView>(200);
    reg.add(
        M::Patch,
        "/api/v1/connections/{id}",
        Kind::Api,
        write,
        "Rename, share, or set warehouse, catalog and schema (owner or admin)",
        patch,
    );
    reg.answers::<ConnectionView>(200);
    reg.body::<PatchBody>();
    reg.add(
        M::Delete,
        "/api/v1/connections/{id}",
        Kind::Api,
        write,
        "Delete a connection and every credential on it (owner or admin)",
        delete,
    );
    reg.answers_empty(204);
    reg.add(
        M::Post,
        "/api/v1/connections/{id}/sign-in",
        Kind::Api,
        read,
        "A one-time link that signs me in to Databricks",
        sign_in,
    );
    reg.answers::<SignInLink>(200);
    reg.add(
        M::Get,
        "/api/v1/connections/{id}/credential",
        Kind::Api,
        read,
        "My credential's status (never tokens)",
        credential,
    );
    reg.answers::<CredentialView>(200);
    reg.add(
        M::Delete,
        "/api/v1/connections/{id}/credential",
        Kind::Api,
        read,
        "Disconnect me",
        disconnect,
    );
    reg.answers_empty(204);
}

/// A connection as the API shows it, with the caller's own credential status.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// The session role its sign-in asks for (Snowflake).
    pub role: Option<String>,
    /// Where its queries are processed (BigQuery); null: where the data is.
    pub location: Option<String>,
    pub created_at: String,
    pub credential: CredentialView,
}

pub async fn view(
    state: &AppState,
    p: &Principal,
    c: ConnectionRow,
) -> Result<ConnectionView, ConnectionError> {
    let credential = state.services.connections.credential_view(p, &c).await?;
    Ok(ConnectionView {
        mine: c.owner_id == p.user.id,
        shared: c.shared,
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
        role: c.role,
        location: c.location,
        credential,
    })
}

async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<ApiJson<Vec<ConnectionView>>> {
    let mut out = Vec::new();
    for c in state.services.connections.visible(&p).await? {
        out.push(view(&state, &p, c).await?);
    }
    Ok(ApiJson(out))
}

/// A BigQuery location (letters, digits and inner hyphens), or blank for none.
const LOCATION_OR_BLANK: &str = r"^([A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])?$";

/// A new connection (also the `connection` of a connect session).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"properties": {"provider": {"const": "databricks"}, "auth": {"const": "oauth-u2m"}, "role": false, "warehouse": false, "database": false, "project": false, "dataset": false, "location": false}},
    {"properties": {"provider": {"const": "snowflake"}, "auth": {"const": "oauth"}, "project": false, "dataset": false, "location": false}},
    {"properties": {"provider": {"const": "bigquery"}, "auth": {"const": "oauth"}, "role": false, "warehouse": false, "database": false}}
]))]
pub(super) struct CreateBody {
    #[schemars(length(max = 100), regex(pattern = rules::PRINTABLE))]
    name: String,
    #[schemars(extend("enum" = ["databricks", "snowflake", "bigquery"]))]
    provider: String,
    /// `oauth-u2m` for Databricks, `oauth` for Snowflake and BigQuery.
    #[schemars(extend("enum" = ["oauth-u2m", "oauth"]))]
    auth: String,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse_id: Option<String>,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    catalog: Option<String>,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    schema: Option<String>,
    /// Snowflake: the session role to sign in with (default: the integration's).
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    role: Option<String>,
    /// BigQuery: where queries are processed (`US`, `EU`, `europe-west2`; default: where
    /// the data is).
    #[schemars(length(max = 40), regex(pattern = LOCATION_OR_BLANK))]
    location: Option<String>,
    /// Snowflake's name for `warehouse_id`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse: Option<String>,
    /// Snowflake's name for `catalog`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    database: Option<String>,
    /// BigQuery's name for `warehouse_id`: the billing project its jobs run in.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    project: Option<String>,
    /// BigQuery's name for `schema`: the default dataset.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    dataset: Option<String>,
    #[serde(default)]
    shared: bool,
}

/// The vendor-named fields a body gave (`providers::Words`).
fn vendor_fields(pairs: [(&'static str, Option<String>); 4]) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// The warehouse, catalog and schema a body names, in the provider's words or the neutral ones.
fn places(
    provider: &dyn providers::Provider,
    neutral: [Option<String>; 3],
    named: Vec<(&'static str, String)>,
) -> ApiResult<[Option<String>; 3]> {
    provider
        .info()
        .words
        .places(neutral, named)
        .map_err(ApiError::bad_request)
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, ApiJson<ConnectionView>)> {
    let c = create_for(&state, &p, &actor, b).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, &p, c).await?)))
}

/// Creates the connection `b` describes, owned by `p`'s user.
pub(super) async fn create_for(
    state: &AppState,
    p: &Principal,
    actor: &Actor,
    b: CreateBody,
) -> ApiResult<ConnectionRow> {
    let Some(provider) = providers::by_connection(&b.provider, &b.auth) else {
        return Err(ApiError::bad_request(
            "available: provider \"databricks\" with auth \"oauth-u2m\", provider \"snowflake\" or \"bigquery\" with auth \"oauth\"",
        ));
    };
    let [warehouse_id, catalog, schema] = places(
        provider,
        [b.warehouse_id, b.catalog, b.schema],
        vendor_fields([
            ("warehouse", b.warehouse),
            ("database", b.database),
            ("project", b.project),
            ("dataset", b.dataset),
        ]),
    )?;
    // Checked before anything is stored: a refused setting leaves no connection behind.
    let given = |v: &Option<String>| {
        v.as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    };
    if let Some(r) = given(&b.role) {
        provider.check_role(&r).map_err(ApiError::bad_request)?;
    }
    if let Some(l) = given(&b.location) {
        provider.check_location(&l).map_err(ApiError::bad_request)?;
    }
    let connections = &state.services.connections;
    let c = connections
        .create(p, actor, provider, &b.name, b.shared)
        .await?;
    if warehouse_id.is_none()
        && catalog.is_none()
        && schema.is_none()
        && b.role.is_none()
        && b.location.is_none()
    {
        return Ok(c);
    }
    let patch = Patch {
        warehouse_id,
        catalog,
        schema,
        role: b.role,
        location: b.location,
        ..Patch::default()
    };
    Ok(connections.update(p, actor, &c.id, patch).await?)
}

async fn show(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<ConnectionView>> {
    let c = state
        .services
        .connections
        .load(&p, &id, Purpose::See)
        .await?;
    Ok(ApiJson(view(&state, &p, c).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 100), regex(pattern = rules::PRINTABLE))]
    name: Option<String>,
    /// Blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse_id: Option<String>,
    /// Blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    catalog: Option<String>,
    /// Blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    schema: Option<String>,
    /// Snowflake: the session role; blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    role: Option<String>,
    /// BigQuery: where queries are processed; blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 40), regex(pattern = LOCATION_OR_BLANK))]
    location: Option<String>,
    /// Snowflake's name for `warehouse_id`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse: Option<String>,
    /// Snowflake's name for `catalog`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    database: Option<String>,
    /// BigQuery's name for `warehouse_id`: the billing project its jobs run in.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    project: Option<String>,
    /// BigQuery's name for `schema`: the default dataset.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    dataset: Option<String>,
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "bool")]
    shared: Option<bool>,
}

async fn patch(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<ApiJson<ConnectionView>> {
    let connections = &state.services.connections;
    let c = connections.load(&p, &id, Purpose::See).await?;
    let provider = providers::by_connection(&c.provider, &c.auth)
        .ok_or_else(|| ApiError::internal(format!("connection {id} has an unknown provider")))?;
    let [warehouse_id, catalog, schema] = places(
        provider,
        [b.warehouse_id, b.catalog, b.schema],
        vendor_fields([
            ("warehouse", b.warehouse),
            ("database", b.database),
            ("project", b.project),
            ("dataset", b.dataset),
        ]),
    )?;
    let patch = Patch {
        name: b.name,
        warehouse_id,
        catalog,
        schema,
        role: b.role,
        location: b.location,
        shared: b.shared,
    };
    let c = connections.update(&p, &actor, &id, patch).await?;
    Ok(ApiJson(view(&state, &p, c).await?))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.connections.delete(&p, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    return_path: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
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
    let c = state
        .services
        .connections
        .load(&p, &id, Purpose::Use)
        .await?;
    let default = format!("/connections/{}", c.id);
    // The body is optional: `{}` or nothing takes the connection page as return path.
    let parsed: SignInBody = optional_json(&body)?;
    let requested = parsed.return_path;
    let return_path = match requested.as_deref() {
        None => default,
        Some(r) if crate::http::local_path::is_local_path(r) => r.to_owned(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "return_path must be a path on this site, such as /connections",
            ));
        }
    };
    let ticket = state
        .services
        .sign_in
        .ticket(&p.user, &c, &return_path)
        .await?;
    Ok(ApiJson(SignInLink {
        sign_in_url: crate::http::ui::oauth_flow::start_url(&state, &ticket),
        expires_in: TICKET_TTL_SECONDS,
    }))
}

async fn credential(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<CredentialView>> {
    let connections = &state.services.connections;
    let c = connections.load(&p, &id, Purpose::Use).await?;
    Ok(ApiJson(connections.credential_view(&p, &c).await?))
}

async fn disconnect(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .connections
        .disconnect(&p, &actor, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
