//! Settings › Advanced › Sign-in and embedding (admins): the origins connect sessions may
//! return to, and the org's single sign-on provider.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::accounts::Role;
use crate::auth::{Access, Principal};
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;
use crate::sso::SsoInput;

const PAGE: &str = "/settings/advanced/access";

pub fn register(reg: &mut Registry) {
    let admin = Access::Admin;
    reg.add(
        M::Get,
        PAGE,
        Kind::Page,
        admin,
        "Sign-in and embedding",
        page,
    );
    reg.add(
        M::Post,
        "/settings/advanced/access/origins",
        Kind::Page,
        admin,
        "Save the allowed return origins",
        save_origins,
    );
    reg.add(
        M::Post,
        "/settings/advanced/access/sso",
        Kind::Page,
        admin,
        "Save single sign-on",
        save_sso,
    );
    reg.add(
        M::Post,
        "/settings/advanced/access/sso/delete",
        Kind::Page,
        admin,
        "Remove single sign-on",
        delete_sso,
    );
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<&'static str>,
    error: Option<String>,
    origins: String,
    redirect_url: String,
    sso_configured: bool,
    issuer: String,
    client_id: String,
    domains: String,
    roles: Vec<(&'static str, bool)>,
    password_sign_in: bool,
}

#[derive(Deserialize)]
struct Flash {
    ok: Option<String>,
}

/// The page from what is stored, or with what was just submitted and why it was refused.
async fn show(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    message: Option<&'static str>,
    refused: Option<(String, &SsoForm)>,
) -> Response {
    let origins = match state.store.return_origins(&p.org.id).await {
        Ok(o) => o.join("\n"),
        Err(e) => return error_page(e.into()),
    };
    let sso = match state.services.sso.config(&p.org.id).await {
        Ok(s) => s,
        Err(e) => return error_page(e.into()),
    };
    let (error, submitted) = refused.map_or((None, None), |(e, f)| (Some(e), Some(f)));
    let stored = |f: fn(&crate::store::SsoRow) -> String| sso.as_ref().map(f).unwrap_or_default();
    let role = submitted.map_or_else(
        || stored(|s| s.default_role.clone()),
        |f| f.default_role.clone(),
    );
    let role = if role.is_empty() {
        "viewer".into()
    } else {
        role
    };
    let nav = Nav::of(p);
    let page = AccessPage {
        csrf: nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default(),
        nav,
        message,
        error,
        origins,
        redirect_url: state.services.sso.redirect_url(),
        sso_configured: sso.is_some(),
        issuer: submitted.map_or_else(|| stored(|s| s.issuer.clone()), |f| f.issuer.clone()),
        client_id: submitted
            .map_or_else(|| stored(|s| s.client_id.clone()), |f| f.client_id.clone()),
        domains: submitted.map_or_else(
            || stored(|s| s.allowed_domains.replace(' ', ", ")),
            |f| f.allowed_domains.clone(),
        ),
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), r.as_str() == role))
            .collect(),
        password_sign_in: submitted.map_or_else(
            || sso.as_ref().is_none_or(|s| s.password_sign_in != 0),
            |f| f.password_sign_in.is_some(),
        ),
    };
    render(status, &page)
}

async fn page(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(f): ApiQuery<Flash>,
) -> Response {
    let message = match f.ok.as_deref() {
        Some("origins") => Some("The allowed return origins are saved."),
        Some("sso") => Some("Single sign-on is saved."),
        Some("sso-removed") => Some("Single sign-on was removed; people sign in with a password."),
        _ => None,
    };
    show(&state, &p, StatusCode::OK, message, None).await
}

#[derive(Deserialize)]
struct OriginsForm {
    #[serde(default)]
    origins: String,
}

async fn save_origins(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<OriginsForm>,
) -> Response {
    let origins: Vec<String> = f
        .origins
        .split(['\n', ',', ' '])
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    let accounts = &state.services.accounts;
    match accounts.set_return_origins(&actor, &p.org, &origins).await {
        Ok(_) => Redirect::to(&format!("{PAGE}?ok=origins")).into_response(),
        Err(e) => error_page(e.into()),
    }
}

#[derive(Deserialize)]
struct SsoForm {
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    allowed_domains: String,
    default_role: String,
    password_sign_in: Option<String>,
}

async fn save_sso(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<SsoForm>,
) -> Response {
    let refuse = |e: ApiError| (e.status, e.message);
    let result = match Role::parse(&f.default_role) {
        None => Err(refuse(ApiError::bad_request("choose a default role"))),
        Some(default_role) => {
            let input = SsoInput {
                issuer: f.issuer.clone(),
                client_id: f.client_id.clone(),
                client_secret: Some(f.client_secret.clone())
                    .filter(|s| !s.is_empty())
                    .map(Secret::new),
                allowed_domains: f
                    .allowed_domains
                    .split([',', ' ', '\n'])
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                default_role,
                password_sign_in: f.password_sign_in.is_some(),
            };
            let sso = &state.services.sso;
            sso.configure(&actor, &p.org, input)
                .await
                .map_err(|e| refuse(e.into()))
        }
    };
    match result {
        Ok(_) => Redirect::to(&format!("{PAGE}?ok=sso")).into_response(),
        Err((status, message)) => show(&state, &p, status, None, Some((message, &f))).await,
    }
}

async fn delete_sso(State(state): State<AppState>, Auth(p): Auth, Audit(actor): Audit) -> Response {
    match state.services.sso.remove(&actor, &p.org).await {
        Ok(()) => Redirect::to(&format!("{PAGE}?ok=sso-removed")).into_response(),
        Err(e) => error_page(e.into()),
    }
}
