//! Settings › API tokens (everyone's own) and Settings › Service keys (admins): one page
//! type for both kinds of bearer secrets — create (shown once), list, revoke.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::auth::api_token::NewToken;
use crate::auth::service_key::{self, NewKey};
use crate::auth::{Access, Principal, Scope};
use crate::http::api::TokenView;
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/settings/api-tokens",
        Kind::Page,
        Access::User(None),
        "API tokens",
        tokens_page,
    );
    reg.add(
        M::Post,
        "/settings/api-tokens",
        Kind::Page,
        Access::User(None),
        "Create an API token",
        tokens_create,
    );
    reg.add(
        M::Post,
        "/settings/api-tokens/{id}/revoke",
        Kind::Page,
        Access::User(None),
        "Revoke an API token",
        tokens_revoke,
    );
    reg.add(
        M::Get,
        "/settings/service-keys",
        Kind::Page,
        Access::Admin,
        "Service keys",
        keys_page,
    );
    reg.add(
        M::Post,
        "/settings/service-keys",
        Kind::Page,
        Access::Admin,
        "Create a service key",
        keys_create,
    );
    reg.add(
        M::Post,
        "/settings/service-keys/{id}/revoke",
        Kind::Page,
        Access::Admin,
        "Revoke a service key",
        keys_revoke,
    );
}

#[derive(Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    expires_in_days: String,
}

/// The two kinds of bearer secrets, on one page type: a user's API tokens, and (admins)
/// the org's service keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Tokens,
    Keys,
}

impl Secrets {
    fn path(self) -> &'static str {
        match self {
            Secrets::Tokens => "/settings/api-tokens",
            Secrets::Keys => "/settings/service-keys",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Secrets::Tokens => "API tokens",
            Secrets::Keys => "Service keys",
        }
    }
    fn intro(self) -> &'static str {
        match self {
            Secrets::Tokens => {
                "Personal tokens let scripts and services call the Lakegate API as you, limited to the scopes you choose. Send them as Authorization: Bearer <token>."
            }
            Secrets::Keys => {
                "Service keys let a platform's backend call the Lakegate API for this organization's users: send the key as Authorization: Bearer <key> and name the user with Lakegate-User: <external id> or user:<id>. The user's own rights apply, limited to the key's scopes."
            }
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Secrets::Tokens => "token",
            Secrets::Keys => "key",
        }
    }
    fn column(self) -> &'static str {
        match self {
            Secrets::Tokens => "Token",
            Secrets::Keys => "Key",
        }
    }
    fn caption(self) -> &'static str {
        match self {
            Secrets::Tokens => "Your tokens",
            Secrets::Keys => "The organization's keys",
        }
    }
    fn allowed_scopes(self, p: &Principal) -> Vec<&'static str> {
        match self {
            Secrets::Tokens => Scope::ALL
                .into_iter()
                .filter(|s| p.user.role >= s.min_role())
                .map(Scope::as_str)
                .collect(),
            Secrets::Keys => service_key::SCOPES.into_iter().map(Scope::as_str).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "secrets.html")]
struct SecretsPage {
    nav: Option<Nav>,
    kind: Secrets,
    csrf: String,
    tokens: Vec<TokenView>,
    allowed_scopes: Vec<&'static str>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn secrets_view(
    state: &AppState,
    p: &Principal,
    kind: Secrets,
    status: StatusCode,
    new_token: Option<String>,
    error: Option<String>,
) -> Response {
    let now = state.now();
    let rows = match kind {
        Secrets::Tokens => state
            .store
            .list_api_tokens(&p.user.id)
            .await
            .map(|rows| rows.iter().map(|r| TokenView::new(r, now)).collect()),
        Secrets::Keys => state
            .store
            .list_service_keys(&p.org.id)
            .await
            .map(|rows| rows.iter().map(|r| TokenView::new(r, now)).collect()),
    };
    let tokens = match rows {
        Ok(t) => t,
        Err(e) => return error_page(e.into()),
    };
    let nav = Nav::of(p);
    let csrf = nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default();
    let page = SecretsPage {
        nav,
        kind,
        csrf,
        tokens,
        allowed_scopes: kind.allowed_scopes(p),
        new_token,
        error,
    };
    render(status, &page)
}

async fn tokens_page(State(state): State<AppState>, Auth(p): Auth) -> Response {
    secrets_view(&state, &p, Secrets::Tokens, StatusCode::OK, None, None).await
}

async fn keys_page(State(state): State<AppState>, Auth(p): Auth) -> Response {
    secrets_view(&state, &p, Secrets::Keys, StatusCode::OK, None, None).await
}

/// The form's scopes and lifetime, or what is wrong with them.
fn parse_secret_form(form: &NewTokenForm) -> Result<(Vec<Scope>, Option<i64>), String> {
    let mut scopes = Vec::new();
    for name in &form.scope {
        scopes.push(Scope::parse(name).ok_or_else(|| format!("Unknown scope {name:?}."))?);
    }
    scopes.sort();
    scopes.dedup();
    let ttl_days = match form.expires_in_days.trim() {
        "" => None,
        t => Some(
            t.parse()
                .map_err(|_| "Expiry must be a number of days.".to_owned())?,
        ),
    };
    Ok((scopes, ttl_days))
}

async fn tokens_create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<NewTokenForm>,
) -> Response {
    let created = match parse_secret_form(&form) {
        Ok((scopes, ttl_days)) => {
            let req = NewToken {
                name: &form.name,
                scopes,
                ttl_days,
            };
            let made = state.services.api_tokens.create(&actor, &p.user, req).await;
            made.map(|(secret, _)| secret).map_err(ApiError::from)
        }
        Err(why) => Err(ApiError::bad_request(why)),
    };
    secret_created(&state, &p, Secrets::Tokens, created).await
}

async fn keys_create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<NewTokenForm>,
) -> Response {
    let created = match parse_secret_form(&form) {
        Ok((scopes, ttl_days)) => {
            let req = NewKey {
                name: &form.name,
                scopes,
                ttl_days,
            };
            let made = state
                .services
                .service_keys
                .create(&actor, &p.org, req)
                .await;
            made.map(|(secret, _)| secret).map_err(ApiError::from)
        }
        Err(why) => Err(ApiError::bad_request(why)),
    };
    secret_created(&state, &p, Secrets::Keys, created).await
}

/// The page again: with the new secret shown once, or with what went wrong.
async fn secret_created(
    state: &AppState,
    p: &Principal,
    kind: Secrets,
    created: Result<Secret, ApiError>,
) -> Response {
    match created {
        Ok(secret) => {
            let shown = Some(secret.expose().to_owned());
            secrets_view(state, p, kind, StatusCode::CREATED, shown, None).await
        }
        Err(e) => secrets_view(state, p, kind, e.status, None, Some(e.message)).await,
    }
}

async fn tokens_revoke(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state.services.api_tokens.revoke(&actor, &p.user, &id).await {
        Ok(()) => Redirect::to(Secrets::Tokens.path()).into_response(),
        Err(e) => error_page(e.into()),
    }
}

async fn keys_revoke(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state
        .services
        .service_keys
        .revoke(&actor, &p.org, &id)
        .await
    {
        Ok(()) => Redirect::to(Secrets::Keys.path()).into_response(),
        Err(e) => error_page(e.into()),
    }
}
