//! Settings › Advanced › Integrations: the list, and the Databricks OAuth U2M form.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::auth::{Access, Principal};
use crate::http::api::integrations::IntegrationView;
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::integrations::SaveInput;
use crate::providers::{self, Provider, redirect_url};
use crate::secret::Secret;

/// The provider this page's form configures (the Databricks OAuth U2M app).
fn form_provider() -> &'static dyn Provider {
    &providers::databricks::U2M
}

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/settings/advanced/integrations",
        Kind::Page,
        Access::Admin,
        "Integrations",
        list,
    );
    reg.add(
        M::Get,
        "/settings/advanced/integrations/databricks-oauth-u2m",
        Kind::Page,
        Access::Admin,
        "Databricks OAuth U2M form",
        form,
    );
    reg.add(
        M::Post,
        "/settings/advanced/integrations/databricks-oauth-u2m",
        Kind::Page,
        Access::Admin,
        "Save the Databricks OAuth U2M integration",
        save,
    );
    reg.add(
        M::Post,
        "/settings/advanced/integrations/databricks-oauth-u2m/delete",
        Kind::Page,
        Access::Admin,
        "Delete the Databricks OAuth U2M integration",
        delete,
    );
}

struct Row {
    kind: &'static str,
    name: &'static str,
    description: &'static str,
    configured: bool,
    host: Option<String>,
    /// What the last save could not verify.
    warning: Option<String>,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct ListPage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    message: Option<&'static str>,
}

#[derive(Deserialize)]
struct Flash {
    ok: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(f): ApiQuery<Flash>,
) -> Response {
    let mut rows = Vec::new();
    for provider in providers::ALL {
        let info = provider.info();
        let row = match state.services.integrations.get(*provider, &p.org.id).await {
            Ok(r) => r,
            Err(e) => return error_page(e.into()),
        };
        rows.push(Row {
            kind: info.kind,
            name: info.title,
            description: info.description,
            configured: row.is_some(),
            warning: row.as_ref().and_then(|r| r.setup_warning.clone()),
            host: row.map(|r| r.host),
        });
    }
    let message = match f.ok.as_deref() {
        Some("saved") => Some(
            "The integration is saved. Users of this organization can now create connections with it.",
        ),
        Some("deleted") => Some("The integration was deleted."),
        _ => None,
    };
    render(
        StatusCode::OK,
        &ListPage {
            nav: Nav::of(&p),
            rows,
            message,
        },
    )
}

#[derive(Template)]
#[template(path = "integration_form.html")]
struct FormPage {
    nav: Option<Nav>,
    csrf: String,
    redirect_url: String,
    configured: bool,
    secret_set: bool,
    secret_updated_at: Option<String>,
    client_id: String,
    host: String,
    scopes: String,
    refresh_ttl: String,
    absolute_lifetime: String,
    error: Option<String>,
    /// The other workspaces of the account added to the integration.
    additional_hosts: Vec<String>,
}

/// The form, prefilled from what is stored or what was just submitted (never the secret).
pub(super) fn form_page(
    state: &AppState,
    p: &Principal,
    view: &IntegrationView,
    submitted: Option<&SaveForm>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let nav = Nav::of(p);
    let page = FormPage {
        csrf: nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default(),
        nav,
        redirect_url: redirect_url(&state.web.public_url, form_provider().info()),
        configured: view.configured,
        secret_set: view.client_secret_set,
        secret_updated_at: view.secret_updated_at.clone(),
        client_id: submitted.map_or_else(
            || view.client_id.clone().unwrap_or_default(),
            |s| s.client_id.clone(),
        ),
        host: submitted.map_or_else(|| view.host.clone().unwrap_or_default(), |s| s.host.clone()),
        scopes: submitted.map_or_else(
            || {
                view.scopes
                    .clone()
                    .unwrap_or_else(|| form_provider().info().default_scopes.into())
            },
            |s| s.scopes.clone(),
        ),
        refresh_ttl: submitted.map_or_else(
            || view.refresh_token_lifetime_minutes.to_string(),
            |s| s.refresh_ttl.clone(),
        ),
        absolute_lifetime: submitted.map_or_else(
            || {
                view.absolute_session_lifetime_minutes
                    .map(|m| m.to_string())
                    .unwrap_or_default()
            },
            |s| s.absolute_lifetime.clone(),
        ),
        error,
        additional_hosts: view.additional_hosts.clone(),
    };
    render(status, &page)
}

pub(super) async fn current(state: &AppState, p: &Principal) -> Result<IntegrationView, ApiError> {
    let provider = form_provider();
    let row = state.services.integrations.get(provider, &p.org.id).await?;
    IntegrationView::with_hosts(state, provider, row.as_ref()).await
}

async fn form(State(state): State<AppState>, Auth(p): Auth) -> Response {
    match current(&state, &p).await {
        Ok(view) => form_page(&state, &p, &view, None, StatusCode::OK, None),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub(super) struct SaveForm {
    client_id: String,
    #[serde(default)]
    client_secret: String,
    host: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    refresh_ttl: String,
    #[serde(default)]
    absolute_lifetime: String,
}

/// A number field of the form: empty is "not given".
fn minutes(text: &str, label: &str) -> Result<Option<i64>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        t => t.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!("{label} must be a whole number of minutes"))
        }),
    }
}

async fn save(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<SaveForm>,
) -> Response {
    let input = match (
        minutes(&f.refresh_ttl, "The refresh token lifetime"),
        minutes(&f.absolute_lifetime, "The absolute session lifetime"),
    ) {
        (Ok(r), Ok(a)) => Ok(SaveInput {
            host: f.host.clone(),
            client_id: f.client_id.clone(),
            client_secret: Some(f.client_secret.clone())
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            scopes: Some(f.scopes.clone()),
            lifetimes: crate::http::api::integrations::lifetimes_from(
                form_provider(),
                r,
                a.or(Some(0)),
            ),
            default_compute: None,
        }),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let again = |row: Option<&crate::store::IntegrationRow>, status, message| {
        let view = IntegrationView::new(&state, form_provider(), row);
        form_page(&state, &p, &view, Some(&f), status, Some(message))
    };
    save_integration(&state, &p, &actor, form_provider(), input, again).await
}

async fn delete(State(state): State<AppState>, Auth(p): Auth, Audit(actor): Audit) -> Response {
    delete_integration(&state, &p, &actor, form_provider()).await
}

/// Saves `provider`'s integration from its form: back to the list, or — refused — the
/// form again, shown by `again` with what is stored, the status and the reason.
pub(super) async fn save_integration(
    state: &AppState,
    p: &Principal,
    actor: &crate::audit::Actor,
    provider: &dyn Provider,
    input: Result<SaveInput, ApiError>,
    again: impl FnOnce(Option<&crate::store::IntegrationRow>, StatusCode, String) -> Response,
) -> Response {
    let integrations = &state.services.integrations;
    let saved = match input {
        Ok(i) => integrations
            .save(provider, actor, &p.org.id, i)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Redirect::to("/settings/advanced/integrations?ok=saved").into_response(),
        Err(e) => match integrations.get(provider, &p.org.id).await {
            Ok(row) => again(row.as_ref(), e.status, e.message),
            Err(e) => error_page(e.into()),
        },
    }
}

/// Deletes `provider`'s integration from its form's danger zone, back to the list.
pub(super) async fn delete_integration(
    state: &AppState,
    p: &Principal,
    actor: &crate::audit::Actor,
    provider: &dyn Provider,
) -> Response {
    match state
        .services
        .integrations
        .delete(provider, actor, &p.org.id)
        .await
    {
        Ok(()) => Redirect::to("/settings/advanced/integrations?ok=deleted").into_response(),
        Err(e) => error_page(e.into()),
    }
}
