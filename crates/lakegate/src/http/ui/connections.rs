//! Connection pages: the list, New connection, and a connection's page (identity, status,
//! pickers, Test connection, Reconnect, Disconnect, Delete).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::accounts::Role;
use crate::auth::{Access, Principal, Scope};
use crate::connections::flow::Failure;
use crate::connections::{self, ConnectionError, CredentialStatus, Patch, Purpose, TestReport};
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers::{self, Provider};
use crate::store::ConnectionRow;

/// The kind of connection the New connection page makes (the only one so far).
fn new_connection_provider() -> &'static dyn Provider {
    &providers::databricks::U2M
}

/// The vendor's name for a connection's provider.
fn vendor_of(c: &ConnectionRow) -> &'static str {
    providers::by_connection(&c.provider, &c.auth).map_or("the warehouse", |p| p.info().vendor)
}

pub fn register(reg: &mut Registry) {
    let read = Access::User(Some(Scope::ConnectionsRead));
    let write = Access::User(Some(Scope::ConnectionsWrite));
    reg.add(
        M::Get,
        "/connections",
        Kind::Page,
        read,
        "Connections",
        list,
    );
    reg.add(
        M::Get,
        "/connections/new",
        Kind::Page,
        write,
        "New connection",
        new_form,
    );
    reg.add(
        M::Post,
        "/connections/new",
        Kind::Page,
        write,
        "Create a connection and sign in",
        create,
    );
    reg.add(
        M::Get,
        "/connections/{id}",
        Kind::Page,
        read,
        "A connection",
        detail,
    );
    reg.add(
        M::Post,
        "/connections/{id}/sign-in",
        Kind::Page,
        read,
        "Sign in (or reconnect)",
        sign_in,
    );
    reg.add(
        M::Post,
        "/connections/{id}/disconnect",
        Kind::Page,
        read,
        "Disconnect me",
        disconnect,
    );
    reg.add(
        M::Post,
        "/connections/{id}/settings",
        Kind::Page,
        write,
        "Warehouse, defaults and sharing",
        settings,
    );
    reg.add(
        M::Post,
        "/connections/{id}/test",
        Kind::Page,
        Access::User(Some(Scope::QueriesRun)),
        "Test connection",
        test,
    );
    reg.add(
        M::Post,
        "/connections/{id}/delete",
        Kind::Page,
        write,
        "Delete a connection",
        delete,
    );
}

fn page_error(e: ConnectionError) -> Response {
    error_page(ApiError::from(e))
}

fn status_text(s: &CredentialStatus) -> String {
    match s {
        CredentialStatus::NotSignedIn => "not signed in".into(),
        CredentialStatus::Active => "active".into(),
        CredentialStatus::ReauthRequired { reason } => format!("sign in again: {reason}"),
        CredentialStatus::Revoked => "revoked".into(),
    }
}

struct ListRow {
    id: String,
    name: String,
    host: String,
    shared: bool,
    status: String,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ListPage {
    nav: Option<Nav>,
    rows: Vec<ListRow>,
    can_create: bool,
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> Response {
    let conns = match state.store.visible_connections(&p.org.id, &p.user.id).await {
        Ok(c) => c,
        Err(e) => return error_page(e.into()),
    };
    let mut rows = Vec::new();
    for c in conns {
        let status = match state.services.connections.credential_view(&p, &c).await {
            Ok(v) => status_text(&v.status),
            Err(e) => return page_error(e),
        };
        rows.push(ListRow {
            id: c.id,
            name: c.name,
            host: c.host,
            shared: c.shared,
            status,
        });
    }
    render(
        StatusCode::OK,
        &ListPage {
            nav: Nav::of(&p),
            rows,
            can_create: p.may(Scope::ConnectionsWrite),
        },
    )
}

#[derive(Template)]
#[template(path = "connection_new.html")]
struct NewPage {
    nav: Option<Nav>,
    csrf: String,
    configured: bool,
    is_admin: bool,
    host: String,
    name: String,
    error: Option<String>,
}

fn csrf_of(nav: &Option<Nav>) -> String {
    nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default()
}

async fn new_page(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    name: String,
    error: Option<String>,
) -> Response {
    let integration = match state
        .services
        .integrations
        .get(new_connection_provider(), &p.org.id)
        .await
    {
        Ok(i) => i,
        Err(e) => return error_page(e.into()),
    };
    let nav = Nav::of(p);
    render(
        status,
        &NewPage {
            csrf: csrf_of(&nav),
            nav,
            configured: integration.is_some(),
            is_admin: p.user.role == Role::Admin,
            host: integration.map(|i| i.host).unwrap_or_default(),
            name,
            error,
        },
    )
}

async fn new_form(State(state): State<AppState>, Auth(p): Auth) -> Response {
    new_page(&state, &p, StatusCode::OK, String::new(), None).await
}

/// Sends the browser to a fresh sign-in for `conn`.
async fn to_sign_in(state: &AppState, p: &Principal, conn: &ConnectionRow) -> Response {
    let return_path = format!("/connections/{}", conn.id);
    match state
        .services
        .sign_in
        .ticket(&p.user, conn, &return_path)
        .await
    {
        Ok(ticket) => Redirect::to(&super::oauth_flow::start_url(state, &ticket)).into_response(),
        Err(e) => page_error(e),
    }
}

/// New connection's form. A checkbox is present only when ticked.
#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    shared: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<CreateForm>,
) -> Response {
    let name = form.name;
    let shared = form.shared.is_some();
    let provider = new_connection_provider();
    match state
        .services
        .connections
        .create(&p, &actor, provider, &name, shared)
        .await
    {
        Ok(conn) => to_sign_in(&state, &p, &conn).await,
        Err(e) => {
            let e = ApiError::from(e);
            new_page(&state, &p, e.status, name, Some(e.message)).await
        }
    }
}

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
    warehouse_label: String,
    catalog_label: String,
    schema_label: String,
    test: Option<TestReport>,
    renews_at: Option<String>,
    sign_in_by: Option<String>,
    reconsent_soon: bool,
}

#[derive(Deserialize, Default)]
struct DetailQuery {
    signin: Option<String>,
    changed: Option<String>,
    saved: Option<String>,
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

async fn detail_page(
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
    let can_manage =
        connections::allowed(p, &conn, Purpose::Manage) && p.may(Scope::ConnectionsWrite);
    render(
        status,
        &DetailPage {
            csrf: csrf_of(&nav),
            nav,
            id: conn.id.clone(),
            name: conn.name.clone(),
            host: conn.host.clone(),
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
            warehouse_label: conn.warehouse_id.clone().unwrap_or_else(|| "none".into()),
            catalog_label: conn.catalog.clone().unwrap_or_else(|| "none".into()),
            schema_label: conn.schema_name.clone().unwrap_or_else(|| "none".into()),
            test,
            renews_at: cred
                .access_renews_at
                .clone()
                .filter(|_| cred.status == CredentialStatus::Active),
            sign_in_by: cred.sign_in_needed_by.clone(),
            reconsent_soon: cred.reconsent_soon,
        },
    )
}

async fn detail(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    q: Result<ApiQuery<DetailQuery>, ApiError>,
) -> Response {
    let q = q.map(|ApiQuery(q)| q).unwrap_or_default();
    detail_page(&state, &p, &id, StatusCode::OK, q, None, None).await
}

async fn sign_in(State(state): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Response {
    match state.services.connections.load(&p, &id, Purpose::Use).await {
        Ok(conn) => to_sign_in(&state, &p, &conn).await,
        Err(e) => page_error(e),
    }
}

async fn disconnect(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state.services.connections.disconnect(&p, &actor, &id).await {
        Ok(()) | Err(ConnectionError::NotSignedIn) => {
            Redirect::to(&format!("/connections/{id}")).into_response()
        }
        Err(e) => page_error(e),
    }
}

/// The connection settings form: empty fields clear a default.
#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    warehouse_id: String,
    #[serde(default)]
    catalog: String,
    #[serde(default)]
    schema: String,
    shared: Option<String>,
}

async fn settings(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    PageForm(form): PageForm<SettingsForm>,
) -> Response {
    let patch = Patch {
        name: None,
        warehouse_id: Some(form.warehouse_id),
        catalog: Some(form.catalog),
        schema: Some(form.schema),
        shared: Some(form.shared.is_some()),
    };
    match state
        .services
        .connections
        .update(&p, &actor, &id, patch)
        .await
    {
        Ok(_) => Redirect::to(&format!("/connections/{id}?saved=1")).into_response(),
        Err(e) => page_error(e),
    }
}

async fn test(State(state): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> Response {
    match state.services.connections.test(&p, &id).await {
        Ok(report) => {
            detail_page(
                &state,
                &p,
                &id,
                StatusCode::OK,
                DetailQuery::default(),
                Some(report),
                None,
            )
            .await
        }
        Err(ConnectionError::NotFound) => page_error(ConnectionError::NotFound),
        Err(e) => {
            let e = ApiError::from(e);
            detail_page(
                &state,
                &p,
                &id,
                e.status,
                DetailQuery::default(),
                None,
                Some(e.message),
            )
            .await
        }
    }
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state.services.connections.delete(&p, &actor, &id).await {
        Ok(()) => Redirect::to("/connections").into_response(),
        Err(e) => page_error(e),
    }
}
