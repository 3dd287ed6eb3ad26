use serde::Serialize;

use super::UserView;
use crate::accounts::Role;
use crate::auth::{Access, Via};
use crate::http::error::ApiJson;
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/me",
        Kind::Api,
        Access::User(None),
        "The caller: user, org, role",
        me,
    );
    reg.answers::<Me>(200);
}

#[derive(Serialize, schemars::JsonSchema)]
struct OrgView {
    id: String,
    slug: String,
    name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Me {
    user: UserView,
    org: OrgView,
    role: Role,
    /// `session`, `token` or `service`.
    auth: &'static str,
    /// A token's scopes (null for a session).
    scopes: Option<Vec<&'static str>>,
    /// A session's CSRF token, for state-changing calls (null for a token).
    csrf_token: Option<String>,
}

async fn me(Auth(p): Auth) -> ApiJson<Me> {
    let (auth, scopes, csrf_token) = match &p.via {
        Via::Session { csrf_token, .. } => ("session", None, Some(csrf_token.clone())),
        Via::Token { scopes, .. } => (
            "token",
            Some(scopes.iter().map(|s| s.as_str()).collect()),
            None,
        ),
        Via::Service { scopes, .. } => (
            "service",
            Some(scopes.iter().map(|s| s.as_str()).collect()),
            None,
        ),
    };
    ApiJson(Me {
        user: UserView::from(&p.user),
        org: OrgView {
            id: p.org.id.clone(),
            slug: p.org.slug.clone(),
            name: p.org.name.clone(),
        },
        role: p.user.role,
        auth,
        scopes,
        csrf_token,
    })
}
