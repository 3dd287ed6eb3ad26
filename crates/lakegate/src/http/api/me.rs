use serde_json::{Value, json};

use super::UserView;
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
}

async fn me(Auth(p): Auth) -> ApiJson<Value> {
    let (auth, scopes, csrf) = match &p.via {
        Via::Session { csrf_token, .. } => ("session", None, Some(csrf_token.clone())),
        Via::Token { scopes, .. } => (
            "token",
            Some(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            None,
        ),
    };
    ApiJson(json!({
        "user": UserView::from(&p.user),
        "org": {"id": p.org.id, "slug": p.org.slug, "name": p.org.name},
        "role": p.user.role,
        "auth": auth,
        "scopes": scopes,
        "csrf_token": csrf,
    }))
}
