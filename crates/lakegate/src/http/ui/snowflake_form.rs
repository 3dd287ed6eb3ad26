//! Settings › Advanced › Integrations › OAuth connections to Snowflake: the SQL to run in
//! Snowflake (pre-filled with the redirect URL and validity, copyable), what to paste back,
//! and the form.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::auth::{Access, Principal};
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::integrations::{SaveInput, TokenLifetimes};
use crate::providers::snowflake::{OAUTH, scopes, setup_sql};
use crate::providers::{Provider, redirect_url};
use crate::secret::Secret;
use crate::store::IntegrationRow;

const PATH: &str = "/settings/advanced/integrations/snowflake-oauth";

pub fn register(reg: &mut Registry) {
    let title = OAUTH.info().title;
    reg.add(M::Get, PATH, Kind::Page, Access::Admin, title, form);
    reg.add(M::Post, PATH, Kind::Page, Access::Admin, title, save);
    reg.add(
        M::Post,
        "/settings/advanced/integrations/snowflake-oauth/delete",
        Kind::Page,
        Access::Admin,
        "Delete the Snowflake OAuth integration",
        delete,
    );
}

#[derive(Template)]
#[template(path = "snowflake_form.html")]
struct FormPage {
    nav: Option<Nav>,
    csrf: String,
    redirect_url: String,
    create_sql: String,
    secrets_sql: String,
    configured: bool,
    secret_set: bool,
    host: String,
    client_id: String,
    default_role: String,
    validity: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SaveForm {
    host: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    default_role: String,
    #[serde(default)]
    validity: String,
}

/// The role in a stored scope (`refresh_token session:role:R`), for the form.
fn stored_role(row: &IntegrationRow) -> String {
    row.scopes
        .split(' ')
        .find_map(|t| t.strip_prefix("session:role:"))
        .unwrap_or_default()
        .to_owned()
}

fn page(
    state: &AppState,
    p: &Principal,
    row: Option<&IntegrationRow>,
    submitted: Option<&SaveForm>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let nav = Nav::of(p);
    let redirect = redirect_url(&state.web.public_url, OAUTH.info());
    let validity = submitted.map_or_else(
        || {
            row.map_or(setup_sql::DEFAULT_REFRESH_VALIDITY_SECONDS, |r| {
                r.refresh_ttl_minutes * 60
            })
            .to_string()
        },
        |f| f.validity.clone(),
    );
    let seconds = validity
        .parse()
        .unwrap_or(setup_sql::DEFAULT_REFRESH_VALIDITY_SECONDS);
    let page = FormPage {
        csrf: nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default(),
        nav,
        create_sql: setup_sql::create_integration(&redirect, seconds),
        secrets_sql: setup_sql::show_secrets(),
        redirect_url: redirect,
        configured: row.is_some(),
        secret_set: row.is_some(),
        host: submitted.map_or_else(
            || row.map(|r| r.host.clone()).unwrap_or_default(),
            |f| f.host.clone(),
        ),
        client_id: submitted.map_or_else(
            || row.map(|r| r.client_id.clone()).unwrap_or_default(),
            |f| f.client_id.clone(),
        ),
        default_role: submitted.map_or_else(
            || row.map(stored_role).unwrap_or_default(),
            |f| f.default_role.clone(),
        ),
        validity,
        error,
    };
    render(status, &page)
}

async fn form(State(state): State<AppState>, Auth(p): Auth) -> Response {
    match state.services.integrations.get(&OAUTH, &p.org.id).await {
        Ok(row) => page(&state, &p, row.as_ref(), None, StatusCode::OK, None),
        Err(e) => error_page(e.into()),
    }
}

/// What the form says, as the service takes it.
fn input(f: &SaveForm) -> Result<SaveInput, ApiError> {
    let role = f.default_role.trim();
    let scopes = if role.is_empty() {
        scopes::for_role(None)
    } else {
        scopes::for_role(Some(
            &scopes::check_role(role).map_err(ApiError::bad_request)?,
        ))
    };
    let lifetimes = match f.validity.trim() {
        "" => None,
        v => {
            let seconds: i64 = v.parse().map_err(|_| {
                ApiError::bad_request(
                    "the refresh token validity must be a whole number of seconds",
                )
            })?;
            if !(setup_sql::MIN_REFRESH_VALIDITY_SECONDS
                ..=setup_sql::DEFAULT_REFRESH_VALIDITY_SECONDS)
                .contains(&seconds)
            {
                return Err(ApiError::bad_request(
                    "the refresh token validity must be between 86400 (1 day) and 7776000 (90 days) seconds",
                ));
            }
            Some(TokenLifetimes {
                refresh_ttl_minutes: seconds / 60,
                absolute_lifetime_minutes: Some(seconds / 60),
            })
        }
    };
    Ok(SaveInput {
        host: f.host.clone(),
        client_id: f.client_id.clone(),
        client_secret: Some(f.client_secret.clone())
            .filter(|s| !s.is_empty())
            .map(Secret::new),
        scopes: Some(scopes),
        lifetimes,
        default_compute: None,
    })
}

async fn save(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<SaveForm>,
) -> Response {
    let again = |row: Option<&IntegrationRow>, status, message| {
        page(&state, &p, row, Some(&f), status, Some(message))
    };
    super::integrations::save_integration(&state, &p, &actor, &OAUTH, input(&f), again).await
}

async fn delete(State(state): State<AppState>, Auth(p): Auth, Audit(actor): Audit) -> Response {
    super::integrations::delete_integration(&state, &p, &actor, &OAUTH).await
}
