//! The Databricks integration page's *Other workspaces of this account*: add one (checked
//! like the first) or remove one; the form again with the reason when refused.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::integrations::{current, form_page};
use super::{PageForm, error_page};
use crate::auth::{Access, Principal};
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers::databricks::U2M;

const FORM: &str = "/settings/advanced/integrations/databricks-oauth-u2m";

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Post,
        "/settings/advanced/integrations/databricks-oauth-u2m/hosts",
        Kind::Page,
        Access::Admin,
        "Add a workspace to the Databricks integration",
        add,
    );
    reg.add(
        M::Post,
        "/settings/advanced/integrations/databricks-oauth-u2m/hosts/remove",
        Kind::Page,
        Access::Admin,
        "Remove a workspace from the Databricks integration",
        remove,
    );
}

#[derive(Deserialize)]
struct HostForm {
    #[serde(default)]
    host: String,
}

/// Back to the form: its page again, or with the reason when refused.
async fn after(state: &AppState, p: &Principal, done: Result<(), ApiError>) -> Response {
    match done {
        Ok(()) => Redirect::to(FORM).into_response(),
        Err(e) => match current(state, p).await {
            Ok(view) => form_page(state, p, &view, None, e.status, Some(e.message)),
            Err(e) => error_page(e),
        },
    }
}

async fn add(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<HostForm>,
) -> Response {
    let done = crate::http::api::integration_hosts::add_host(&state, &p, &actor, &f.host)
        .await
        .map(|_| ());
    after(&state, &p, done).await
}

async fn remove(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(f): PageForm<HostForm>,
) -> Response {
    let done = state
        .services
        .integrations
        .remove_host(&U2M, &actor, &p.org.id, &f.host)
        .await
        .map_err(ApiError::from);
    after(&state, &p, done).await
}
