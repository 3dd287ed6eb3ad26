//! Connections: create, read, change, delete, and the caller's own sign-in and credential.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Principal, Scope};
use crate::clock::rfc3339;
use crate::connections::flow::TICKET_TTL_SECONDS;
use crate::connections::{ConnectionError, CredentialView, Patch, Purpose};
use crate::field_rules as rules;
use crate::http::api::connection_bodies::{
    self, LOCATION_OR_BLANK, places, shared_secret, vendor_fields,
};
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
        "Create a connection: signed in to by each user (Databricks OAuth U2M, Snowflake, BigQuery), or a shared identity (Databricks OAuth M2M, personal access token)",
        create,
    );
    reg.answers::<ConnectionView>(201);
    reg.body::<connection_bodies::CreateBody>();
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
        "Rename, share, set warehouse, catalog and schema, a fallback, a shared identity's new secret or token (owner or admin), or its token vending (admin)",
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
    /// A shared identity's tokens may be vended (an administrator turned it on).
    pub token_vending: bool,
    /// The M2M connection `allow_fallback` requests run as when the caller must sign in.
    pub fallback_connection_id: Option<String>,
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
        token_vending: c.token_vending,
        fallback_connection_id: c.fallback_connection_id,
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

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<connection_bodies::CreateBody>,
) -> ApiResult<(StatusCode, ApiJson<ConnectionView>)> {
    let c = connection_bodies::create_for(&state, &p, &actor, b).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, &p, c).await?)))
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
    /// A shared identity's token vending, on or off (administrators only).
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "bool")]
    token_vending: Option<bool>,
    /// The OAuth M2M connection of the same workspace `allow_fallback` requests run as;
    /// blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 64), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    fallback_connection_id: Option<String>,
    /// OAuth M2M: a new client id (with `client_secret`).
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE))]
    client_id: Option<String>,
    /// OAuth M2M: a new secret; the old one works until this one is proven and saved.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 1024), regex(pattern = rules::PRINTABLE))]
    client_secret: Option<String>,
    /// Personal access token: a new token; the old one works until this one is proven and saved.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 1024), regex(pattern = rules::PRINTABLE))]
    token: Option<String>,
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
    if let Some(secret) = shared_secret(b.client_id, b.client_secret, b.token)? {
        connections.replace_secret(&p, &actor, &id, secret).await?;
    }
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
        token_vending: b.token_vending,
        fallback_connection_id: b.fallback_connection_id,
    };
    let c = if patch.is_empty() {
        // Only a new secret or token: nothing else changes.
        connections.load(&p, &id, Purpose::See).await?
    } else {
        connections.update(&p, &actor, &id, patch).await?
    };
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
