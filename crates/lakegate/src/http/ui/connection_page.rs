//! A connection's page: the user's identity in the warehouse, the credential's status and
//! deadlines, the compute and catalog pickers (listed with the user's own token), Test
//! connection's report, and the notices a sign-in leaves.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::connections::{csrf_of, page_error, status_text, vendor_of};
use super::{Nav, render};
use crate::auth::{Principal, Scope};
use crate::connections::flow::Failure;
use crate::connections::{self, CredentialStatus, Purpose, TestReport};
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::Auth;
use crate::http::state::AppState;
use crate::providers::Renewal;
use crate::providers::databricks::U2M_WORDS;

struct Choice {
    id: String,
    name: String,
    state: String,
    selected: bool,
}

struct Named {
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "connection.html")]
struct DetailPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    name: String,
    host: String,
    /// The vendor (`Databricks`, `Snowflake`) and the way of connecting, in sentences.
    vendor: &'static str,
    method: &'static str,
    shared: bool,
    identity: Option<String>,
    status: String,
    /// The credential works (not void, not waiting for a new sign-in).
    active: bool,
    notice: Option<String>,
    error: Option<String>,
    can_manage: bool,
    can_share: bool,
    can_test: bool,
    warehouses: Vec<Choice>,
    catalogs: Vec<Named>,
    schemas: Vec<Named>,
    /// The vendor's words for warehouse, catalog and schema.
    labels: [&'static str; 3],
    /// Whether the connection may name a processing location (BigQuery), and its own.
    locations: bool,
    location: String,
    /// Whether the console offers a dry run (BigQuery).
    dry_run: bool,
    /// How statements name parameters (`:` or `@`).
    marker: &'static str,
    warehouse_label: String,
    catalog_label: String,
    schema_label: String,
    test: Option<TestReport>,
    renews_at: Option<String>,
    sign_in_by: Option<String>,
    reconsent_soon: bool,
    /// Queries run as one identity for everyone (OAuth M2M, a personal access token).
    shared_identity: bool,
    /// A service principal (id and secret), not a token.
    m2m: bool,
    is_admin: bool,
    token_vending: bool,
    /// Where the connection may name a fallback (its users sign in), and the choices:
    /// (id, name, selected).
    offers_fallback: bool,
    fallbacks: Vec<(String, String, bool)>,
}

#[derive(Deserialize, Default)]
pub(super) struct DetailQuery {
    signin: Option<String>,
    changed: Option<String>,
    saved: Option<String>,
}

/// How a connection connects, as its page says it.
pub(super) fn method_of(c: &crate::store::ConnectionRow) -> &'static str {
    match c.auth.as_str() {
        "oauth-u2m" => "OAuth U2M",
        "oauth-m2m" => "OAuth M2M",
        "pat" => "personal access token",
        _ => "OAuth",
    }
}

/// Fixed messages chosen by code; nothing from the URL is echoed.
fn notice_for(q: &DetailQuery, vendor: &str) -> (Option<String>, Option<String>) {
    if q.saved.is_some() {
        return (Some("Saved.".into()), None);
    }
    match q.signin.as_deref() {
        Some("ok") if q.changed.is_some() => (
            Some(format!(
                "Signed in to {vendor} — as a different {vendor} user than before."
            )),
            None,
        ),
        Some("ok") => (Some(format!("Signed in to {vendor}.")), None),
        Some(code) => (None, Failure::parse(code).map(|f| f.message(vendor))),
        None => (None, None),
    }
}

pub(super) async fn detail_page(
    state: &AppState,
    p: &Principal,
    id: &str,
    status: StatusCode,
    q: DetailQuery,
    test: Option<TestReport>,
    error: Option<String>,
) -> Response {
    let service = &state.services.connections;
    let conn = match service.load(p, id, Purpose::See).await {
        Ok(c) => c,
        Err(e) => return page_error(e),
    };
    let cred = match service.credential_view(p, &conn).await {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    let (notice, mut err) = notice_for(&q, vendor_of(&conn));
    if error.is_some() {
        err = error;
    }
    let mut warehouses = Vec::new();
    let mut catalogs = Vec::new();
    let mut schemas = Vec::new();
    if cred.status == CredentialStatus::Active {
        // The pickers list what this user may see in the warehouse, with their own token.
        match service.keeper(p, &conn).await {
            Ok(keeper) => {
                match keeper.warehouses().await {
                    Ok(list) => {
                        warehouses = list
                            .into_iter()
                            .map(|w| Choice {
                                selected: conn.warehouse_id.as_deref() == Some(w.id.as_str()),
                                id: w.id,
                                name: w.name,
                                state: w.state,
                            })
                            .collect()
                    }
                    Err(e) => err = err.or(Some(format!("Could not list warehouses: {e}"))),
                }
                if let Ok(names) = keeper.catalogs().await {
                    catalogs = names
                        .into_iter()
                        .map(|n| Named {
                            selected: conn.catalog.as_deref() == Some(n.as_str()),
                            name: n,
                        })
                        .collect();
                }
                if let Some(cat) = &conn.catalog
                    && let Ok(names) = keeper.schemas(cat).await
                {
                    schemas = names
                        .into_iter()
                        .map(|n| Named {
                            selected: conn.schema_name.as_deref() == Some(n.as_str()),
                            name: n,
                        })
                        .collect();
                }
            }
            Err(e) => err = err.or(Some(e.to_string())),
        }
    }
    let nav = Nav::of(p);
    // What the connection's provider offers (none: a provider no longer offered).
    let info = crate::providers::by_connection(&conn.provider, &conn.auth).map(|p| p.info());
    let can_manage =
        connections::allowed(p, &conn, Purpose::Manage) && p.may(Scope::ConnectionsWrite);
    let renewal = info.map_or(Renewal::RefreshToken, |i| i.renewal);
    let offers_fallback = can_manage && !renewal.shared_identity() && conn.provider == "databricks";
    let fallbacks = if offers_fallback {
        super::shared_identity::fallback_choices(state, p, &conn)
            .await
            .into_iter()
            .map(|(id, name)| {
                let selected = conn.fallback_connection_id.as_deref() == Some(id.as_str());
                (id, name, selected)
            })
            .collect()
    } else {
        vec![]
    };
    render(
        status,
        &DetailPage {
            csrf: csrf_of(&nav),
            nav,
            id: conn.id.clone(),
            name: conn.name.clone(),
            host: conn.host.clone(),
            vendor: vendor_of(&conn),
            method: method_of(&conn),
            shared: conn.shared,
            identity: cred.databricks_user_name.clone(),
            status: status_text(&cred.status),
            active: cred.status == CredentialStatus::Active,
            notice,
            error: err,
            can_manage,
            can_share: can_manage,
            can_test: p.may(Scope::QueriesRun),
            warehouses,
            catalogs,
            schemas,
            labels: info.map_or(U2M_WORDS.labels, |i| i.words.labels),
            locations: info.is_some_and(|i| i.locations),
            location: conn.location.clone().unwrap_or_default(),
            dry_run: info.is_some_and(|i| i.dry_run),
            marker: info.map_or(":", |i| i.parameter_marker),
            warehouse_label: conn.warehouse_id.clone().unwrap_or_else(|| "none".into()),
            catalog_label: conn.catalog.clone().unwrap_or_else(|| "none".into()),
            schema_label: conn.schema_name.clone().unwrap_or_else(|| "none".into()),
            test,
            renews_at: cred
                .access_renews_at
                .clone()
                .filter(|_| cred.status == CredentialStatus::Active),
            sign_in_by: cred
                .sign_in_needed_by
                .clone()
                .filter(|_| !cred.shared_identity),
            reconsent_soon: cred.reconsent_soon,
            shared_identity: cred.shared_identity,
            m2m: renewal == Renewal::ClientCredentials,
            is_admin: p.user.role == crate::accounts::Role::Admin,
            token_vending: conn.token_vending,
            offers_fallback,
            fallbacks,
        },
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: Result<ApiQuery<DetailQuery>, ApiError>,
) -> Response {
    let q = q.map(|ApiQuery(q)| q).unwrap_or_default();
    detail_page(&state, &p, &id, StatusCode::OK, q, None, None).await
}
