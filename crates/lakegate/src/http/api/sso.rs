//! The org's single sign-on provider (admins): never the client secret back.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::accounts::Role;
use crate::auth::Access;
use crate::clock::rfc3339;
use crate::field_rules as rules;
use crate::http::error::{ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;
use crate::sso::{SsoError, SsoInput};
use crate::store::SsoRow;

const PATH: &str = "/api/v1/sso";

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        PATH,
        Kind::Api,
        Access::Admin,
        "The org's OpenID Connect provider for people's sign-in",
        show,
    );
    reg.answers::<SsoView>(200);
    reg.add(
        M::Put,
        PATH,
        Kind::Api,
        Access::Admin,
        "Configure single sign-on (checked by discovery; the secret is write-only)",
        put,
    );
    reg.body::<SsoBody>();
    reg.answers::<SsoView>(200);
    reg.add(
        M::Delete,
        PATH,
        Kind::Api,
        Access::Admin,
        "Remove single sign-on (password sign-in remains)",
        delete,
    );
    reg.answers_empty(204);
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SsoView {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_set: bool,
    pub allowed_domains: Vec<String>,
    pub default_role: String,
    pub password_sign_in: bool,
    /// Register this at the provider.
    pub redirect_url: String,
    pub updated_at: String,
    pub updated_by: String,
}

fn view(state: &AppState, r: SsoRow) -> SsoView {
    SsoView {
        issuer: r.issuer,
        client_id: r.client_id,
        client_secret_set: true,
        allowed_domains: r.allowed_domains.split(' ').map(str::to_owned).collect(),
        default_role: r.default_role,
        password_sign_in: r.password_sign_in != 0,
        redirect_url: state.services.sso.redirect_url(),
        updated_at: rfc3339(r.updated_at),
        updated_by: r.updated_by,
    }
}

async fn show(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<SsoView>> {
    let row = state.services.sso.config(&p.org.id).await?;
    Ok(ApiJson(view(&state, row.ok_or(SsoError::NotConfigured)?)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SsoBody {
    /// The provider's issuer URL (https); its discovery document must name it.
    #[schemars(length(max = 2000), regex(pattern = rules::PRINTABLE))]
    issuer: String,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE))]
    client_id: String,
    /// Required the first time; omitted, the stored one is kept.
    #[schemars(length(max = 1024))]
    client_secret: Option<String>,
    /// The email domains whose people may sign in (1 to 20).
    #[schemars(length(min = 1, max = 20))]
    allowed_domains: Vec<String>,
    /// The role of people created at their first sign-in; default viewer.
    default_role: Option<Role>,
    /// Whether people may still sign in with a password; default true.
    password_sign_in: Option<bool>,
}

async fn put(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<SsoBody>,
) -> ApiResult<ApiJson<SsoView>> {
    let input = SsoInput {
        issuer: b.issuer,
        client_id: b.client_id,
        client_secret: b.client_secret.map(Secret::new),
        allowed_domains: b.allowed_domains,
        default_role: b.default_role.unwrap_or(Role::Viewer),
        password_sign_in: b.password_sign_in.unwrap_or(true),
    };
    let row = state.services.sso.configure(&actor, &p.org, input).await?;
    Ok(ApiJson(view(&state, row)))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
) -> ApiResult<StatusCode> {
    state.services.sso.remove(&actor, &p.org).await?;
    Ok(StatusCode::NO_CONTENT)
}
