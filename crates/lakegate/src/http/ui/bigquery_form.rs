//! Settings › Advanced › Integrations › OAuth connections to BigQuery: the Google Cloud
//! steps (a "Web application" OAuth client, the BigQuery API enabled, the consent screen's
//! publishing status), the redirect URI to copy, and the form — Client ID and Secret only:
//! Google's endpoints are fixed.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::auth::{Access, Principal};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::integrations::SaveInput;
use crate::providers::bigquery::OAUTH;
use crate::providers::{Provider, redirect_url};
use crate::secret::Secret;
use crate::store::IntegrationRow;

const PATH: &str = "/settings/advanced/integrations/bigquery-oauth";

pub fn register(reg: &mut Registry) {
    let title = OAUTH.info().title;
    reg.add(M::Get, PATH, Kind::Page, Access::Admin, title, form);
    reg.add(M::Post, PATH, Kind::Page, Access::Admin, title, save);
    reg.add(
        M::Post,
        "/settings/advanced/integrations/bigquery-oauth/delete",
        Kind::Page,
        Access::Admin,
        "Delete the BigQuery OAuth integration",
        delete,
    );
}

#[derive(Template)]
#[template(path = "bigquery_form.html")]
struct FormPage {
    nav: Option<Nav>,
    csrf: String,
    redirect_url: String,
    configured: bool,
    secret_set: bool,
    client_id: String,
    default_project: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SaveForm {
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    default_project: String,
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
    let page = FormPage {
        csrf: nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default(),
        nav,
        redirect_url: redirect_url(&state.web.public_url, OAUTH.info()),
        configured: row.is_some(),
        secret_set: row.is_some(),
        client_id: submitted.map_or_else(
            || row.map(|r| r.client_id.clone()).unwrap_or_default(),
            |f| f.client_id.clone(),
        ),
        default_project: submitted.map_or_else(
            || {
                row.and_then(|r| r.default_compute.clone())
                    .unwrap_or_default()
            },
            |f| f.default_project.clone(),
        ),
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

async fn save(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<SaveForm>,
) -> Response {
    let input = SaveInput {
        host: String::new(),
        client_id: f.client_id.clone(),
        client_secret: Some(f.client_secret.clone())
            .filter(|s| !s.is_empty())
            .map(Secret::new),
        scopes: None,
        lifetimes: None,
        default_compute: Some(f.default_project.clone()),
    };
    let again = |row: Option<&IntegrationRow>, status, message| {
        page(&state, &p, row, Some(&f), status, Some(message))
    };
    super::integrations::save_integration(&state, &p, &actor, &OAUTH, Ok(input), again).await
}

async fn delete(State(state): State<AppState>, Auth(p): Auth, Audit(actor): Audit) -> Response {
    super::integrations::delete_integration(&state, &p, &actor, &OAUTH).await
}
