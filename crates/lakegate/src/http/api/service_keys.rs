//! Service keys (admins): create (the secret is returned once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::tokens::TokenView;
use crate::auth::service_key::{self, NewKey};
use crate::auth::{Access, Scope};
use crate::field_rules as rules;
use crate::http::error::{ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/service-keys",
        Kind::Api,
        Access::Admin,
        "List the org's service keys",
        list,
    );
    reg.answers::<Vec<TokenView>>(200);
    reg.add(
        M::Post,
        "/api/v1/service-keys",
        Kind::Api,
        Access::Admin,
        "Create a service key for a platform's backend (the secret is returned once)",
        create,
    );
    reg.body::<CreateKey>();
    reg.answers::<Created>(201);
    reg.add(
        M::Delete,
        "/api/v1/service-keys/{id}",
        Kind::Api,
        Access::Admin,
        "Revoke a service key (at once, on every replica)",
        revoke,
    );
    reg.answers_empty(204);
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    #[schemars(length(max = 100), regex(pattern = rules::PRINTABLE))]
    name: String,
    /// What the key may do for a user: `connections:read`, `connections:write`,
    /// `queries:run`, `tokens:vend` (never `admin`).
    #[schemars(schema_with = "key_scopes")]
    scopes: Vec<Scope>,
    /// Default 90.
    #[serde(default, deserialize_with = "rules::whole_number")]
    #[schemars(range(min = 1, max = 366))]
    expires_in_days: Option<i64>,
}

/// The scopes a service key may hold, for the schema (`admin` is not one of them; the
/// service refuses it too).
fn key_scopes(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = service_key::SCOPES.iter().map(|s| s.as_str()).collect();
    schemars::json_schema!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": names}})
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Created {
    /// The secret, shown this once.
    key: String,
    #[serde(flatten)]
    view: TokenView,
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<TokenView>>> {
    let now = state.now();
    let rows = state.services.service_keys.list(&p.org).await?;
    Ok(ApiJson(
        rows.iter().map(|r| TokenView::new(r, now)).collect(),
    ))
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, ApiJson<Created>)> {
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    let req = NewKey {
        name: &body.name,
        scopes,
        ttl_days: body.expires_in_days,
    };
    let (secret, row) = state
        .services
        .service_keys
        .create(&actor, &p.org, req)
        .await?;
    let view = TokenView::new(&row, state.now());
    let key = secret.expose().to_owned();
    Ok((StatusCode::CREATED, ApiJson(Created { key, view })))
}

async fn revoke(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .service_keys
        .revoke(&actor, &p.org, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
