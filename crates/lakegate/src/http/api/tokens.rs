use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::api_token::NewToken;
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

/// A token or service key as listed: never the secret.
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

/// What a listing shows of a stored bearer secret (API token or service key).
pub struct Listing<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub scopes: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Rows that can be listed as a `TokenView`.
pub trait Listed {
    fn listing(&self) -> Listing<'_>;
}

/// Both stored secrets have the same listed columns.
macro_rules! listed {
    ($row:ty) => {
        impl Listed for $row {
            fn listing(&self) -> Listing<'_> {
                Listing {
                    id: &self.id,
                    name: &self.name,
                    prefix: &self.prefix,
                    scopes: &self.scopes,
                    created_at: self.created_at,
                    expires_at: self.expires_at,
                    last_used_at: self.last_used_at,
                    revoked_at: self.revoked_at,
                }
            }
        }
    };
}
listed!(ApiTokenRow);
listed!(crate::store::ServiceKeyRow);

impl TokenView {
    pub fn new(row: &impl Listed, now: i64) -> Self {
        let l = row.listing();
        TokenView {
            id: l.id.to_owned(),
            name: l.name.to_owned(),
            prefix: l.prefix.to_owned(),
            scopes: crate::auth::scope::split(l.scopes),
            created_at: rfc3339(l.created_at),
            expires_at: rfc3339(l.expires_at),
            last_used_at: l.last_used_at.map(rfc3339),
            revoked_at: l.revoked_at.map(rfc3339),
            status: crate::auth::bearer::status(l.revoked_at, l.expires_at, now),
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
