use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::api_token::{self, NewToken};
use crate::auth::{Access, Principal, Scope, Via};
use crate::clock::rfc3339;
use crate::field_rules as rules;
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::ApiTokenRow;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/tokens",
        Kind::Api,
        Access::User(None),
        "List my API tokens",
        list,
    );
    reg.answers::<Vec<TokenView>>(200);
    reg.add(
        M::Post,
        "/api/v1/tokens",
        Kind::Api,
        Access::User(None),
        "Create an API token (the secret is returned once)",
        create,
    );
    reg.answers::<Created>(201);
    reg.body::<CreateToken>();
    reg.add(
        M::Delete,
        "/api/v1/tokens/{id}",
        Kind::Api,
        Access::User(None),
        "Revoke one of my API tokens",
        revoke,
    );
    reg.answers_empty(204);
}

/// A token as listed: never the secret.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl TokenView {
    pub fn new(row: &ApiTokenRow, now: i64) -> Self {
        let status = match (row.revoked_at, now >= row.expires_at) {
            (Some(_), _) => "revoked",
            (None, true) => "expired",
            (None, false) => "active",
        };
        TokenView {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            scopes: api_token::scopes_of(row),
            created_at: rfc3339(row.created_at),
            expires_at: rfc3339(row.expires_at),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            status,
        }
    }
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<TokenView>>> {
    let now = state.now();
    let rows = state.store.list_api_tokens(&p.user.id).await?;
    Ok(ApiJson(
        rows.iter().map(|r| TokenView::new(r, now)).collect(),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    #[schemars(length(max = 100), regex(pattern = rules::PRINTABLE))]
    name: String,
    /// Scopes above the caller's role are refused.
    #[schemars(length(min = 1))]
    scopes: Vec<Scope>,
    /// Default 90.
    #[serde(default, deserialize_with = "rules::whole_number")]
    #[schemars(range(min = 1, max = 366))]
    expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Created {
    /// The secret, shown this once.
    token: String,
    #[serde(flatten)]
    view: TokenView,
}

/// A token can only mint tokens with scopes it holds itself.
pub fn check_no_escalation(p: &Principal, wanted: &[Scope]) -> Result<(), ApiError> {
    if let Via::Token { scopes, .. } = &p.via
        && let Some(s) = wanted.iter().find(|s| !scopes.contains(s))
    {
        return Err(ApiError::forbidden(format!(
            "an API token cannot create a token with the {} scope, which it does not hold",
            s.as_str()
        )));
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, ApiJson<Created>)> {
    check_no_escalation(&p, &body.scopes)?;
    let now = state.now();
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    let req = NewToken {
        name: &body.name,
        scopes,
        ttl_days: body.expires_in_days,
    };
    let (secret, row) = state
        .services
        .api_tokens
        .create(&actor, &p.user, req)
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(Created {
            token: secret.expose().to_owned(),
            view: TokenView::new(&row, now),
        }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .api_tokens
        .revoke(&actor, &p.user, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
