//! Connection pages: the list, New connection, and a connection's page (identity, status,
//! pickers, Test connection, Reconnect, Disconnect, Delete).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::connection_page::{DetailQuery, detail, detail_page};
use super::{Nav, PageForm, error_page, render};
use crate::accounts::Role;
use crate::auth::{Access, Principal, Scope};
use crate::connections::{ConnectionError, CredentialStatus, Patch, Purpose};
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers::{self, Provider};
use crate::store::ConnectionRow;

/// The kind of connection the New connection page makes: the one asked for, else the
/// first the org has configured, else the first there is.
async fn new_connection_provider(
    state: &AppState,
    org_id: &str,
    kind: Option<&str>,
) -> &'static dyn Provider {
    if let Some(p) = kind.and_then(providers::by_kind) {
        return p;
    }
    for p in providers::ALL {
        if matches!(
            state.services.integrations.get(*p, org_id).await,
            Ok(Some(_))
        ) {
            return *p;
        }
    }
    providers::ALL[0]
}

/// One tab of the New connection page's choice of warehouse.
struct Choice {
    kind: &'static str,
    label: String,
    current: bool,
}

/// The vendor's name for a connection's provider.
pub(super) fn vendor_of(c: &ConnectionRow) -> &'static str {
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

pub(super) fn page_error(e: ConnectionError) -> Response {
    error_page(ApiError::from(e))
}

pub(super) fn status_text(s: &CredentialStatus) -> String {
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
    let conns = match state.services.connections.visible(&p).await {
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
    choices: Vec<Choice>,
    kind: &'static str,
    vendor: &'static str,
    /// `Databricks › OAuth U2M`.
    label: String,
    title: &'static str,
    roles: bool,
    configured: bool,
    is_admin: bool,
    host: String,
    name: String,
    error: Option<String>,
    /// A shared identity: the form asks for the host and its secret or token.
    shared_identity: bool,
    m2m: bool,
    /// The integration's workspaces, when it has more than one to pick from.
    workspaces: Vec<String>,
}

fn label(p: &dyn Provider) -> String {
    let auth = match p.info().auth {
        "oauth-u2m" => "OAuth U2M",
        "oauth-m2m" => "OAuth M2M",
        "pat" => "Personal access token",
        _ => "OAuth",
    };
    format!("{} › {auth}", p.info().product)
}

pub(super) fn csrf_of(nav: &Option<Nav>) -> String {
    nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default()
}

async fn new_page(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    (provider, name): (&'static dyn Provider, String),
    error: Option<String>,
) -> Response {
    let integration = match state.services.integrations.get(provider, &p.org.id).await {
        Ok(i) => i,
        Err(e) => return error_page(e.into()),
    };
    let nav = Nav::of(p);
    let info = provider.info();
    let mut workspaces = vec![];
    if let Some(i) = &integration {
        let added = state
            .store
            .integration_hosts(&i.id)
            .await
            .unwrap_or_default();
        if !added.is_empty() {
            workspaces.push(i.host.clone());
            workspaces.extend(added.into_iter().map(|h| h.host));
        }
    }
    render(
        status,
        &NewPage {
            csrf: csrf_of(&nav),
            nav,
            choices: providers::ALL
                .iter()
                .chain(providers::SHARED)
                .map(|c| Choice {
                    kind: c.info().kind,
                    label: label(*c),
                    current: c.info().kind == info.kind,
                })
                .collect(),
            kind: info.kind,
            vendor: info.vendor,
            label: label(provider),
            title: info.title,
            roles: info.session_roles,
            // A shared identity needs no org integration.
            configured: integration.is_some() || info.renewal.shared_identity(),
            shared_identity: info.renewal.shared_identity(),
            m2m: info.renewal == crate::providers::Renewal::ClientCredentials,
            workspaces,
            is_admin: p.user.role == Role::Admin,
            host: integration.map(|i| i.host).unwrap_or_default(),
            name,
            error,
        },
    )
}

#[derive(Deserialize, Default)]
struct NewQuery {
    kind: Option<String>,
}

async fn new_form(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<crate::http::error::ApiQuery<NewQuery>, ApiError>,
) -> Response {
    let kind = q.ok().and_then(|q| q.0.kind);
    let provider = new_connection_provider(&state, &p.org.id, kind.as_deref()).await;
    new_page(&state, &p, StatusCode::OK, (provider, String::new()), None).await
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
    #[serde(default)]
    kind: String,
    /// Snowflake: the session role (empty: the integration's default).
    #[serde(default)]
    role: String,
    /// Shared identities: the workspace host and the secret or token.
    #[serde(default)]
    host: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    token: String,
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<CreateForm>,
) -> Response {
    let name = form.name;
    let shared = form.shared.is_some();
    let provider = new_connection_provider(&state, &p.org.id, Some(&form.kind)).await;
    let connections = &state.services.connections;
    if provider.info().renewal.shared_identity() {
        let created = match super::shared_identity::form_secret(
            provider.info().renewal,
            form.client_id,
            form.client_secret,
            form.token,
        ) {
            Ok(secret) => {
                connections
                    .create_shared(&p, &actor, provider, &name, shared, &form.host, secret)
                    .await
            }
            Err(e) => Err(e),
        };
        return match created {
            Ok(conn) => Redirect::to(&format!("/connections/{}", conn.id)).into_response(),
            Err(e) => {
                let e = ApiError::from(e);
                new_page(&state, &p, e.status, (provider, name), Some(e.message)).await
            }
        };
    }
    let created = match connections
        .create(&p, &actor, provider, &name, shared, Some(&form.host))
        .await
    {
        Ok(conn) if !form.role.trim().is_empty() => {
            let patch = Patch {
                role: Some(form.role),
                ..Patch::default()
            };
            connections.update(&p, &actor, &conn.id, patch).await
        }
        other => other,
    };
    match created {
        Ok(conn) => to_sign_in(&state, &p, &conn).await,
        Err(e) => {
            let e = ApiError::from(e);
            new_page(&state, &p, e.status, (provider, name), Some(e.message)).await
        }
    }
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
    /// Only where the provider has locations (BigQuery).
    location: Option<String>,
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
        role: None,
        location: form.location,
        ..Patch::default()
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
