//! Settings › Activity (admins): the audit log with names for ids (the id on hover and in
//! the export), filters by user, connection, action and time, pages of older events, and a
//! CSV export of what the filters select.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Nav, error_page, render};
use crate::auth::{Access, Principal};
use crate::http::api::audit::{AuditPage, AuditQuery, AuditView, page};
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::queries::output::{CsvCells, csv};

/// Events per page on the page (the export takes up to the API's maximum).
const PAGE_SIZE: i64 = 50;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/settings/activity",
        Kind::Page,
        Access::Admin,
        "Activity",
        activity_page,
    );
    reg.add(
        M::Get,
        "/settings/activity.csv",
        Kind::Page,
        Access::Admin,
        "Activity as CSV",
        export,
    );
}

/// A filter's choice: (value, label, selected).
type Choice = (String, String, bool);

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    nav: Option<Nav>,
    org_name: String,
    events: Vec<AuditView>,
    users: Vec<Choice>,
    connections: Vec<Choice>,
    action: String,
    since: String,
    /// The filters as a query string, for the next page and the export.
    query: String,
    next_before: Option<i64>,
    error: Option<String>,
}

/// The query string of the filters (no paging).
fn filters_query(q: &AuditQuery) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("user", &q.user),
        ("connection", &q.connection),
        ("action", &q.action),
        ("actor", &q.actor),
        ("since", &q.since),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

async fn choices(
    state: &AppState,
    p: &Principal,
    q: &AuditQuery,
) -> Result<(Vec<Choice>, Vec<Choice>), ApiError> {
    let users = state
        .store
        .list_users(&p.org.id)
        .await?
        .into_iter()
        .map(|u| {
            let selected = q.user.as_deref() == Some(u.id.as_str());
            (u.id, u.email, selected)
        })
        .collect();
    let connections = state
        .store
        .org_connections(&p.org.id)
        .await?
        .into_iter()
        .map(|c| {
            let selected = q.connection.as_deref() == Some(c.id.as_str());
            (c.id, c.name, selected)
        })
        .collect();
    Ok((users, connections))
}

async fn activity_page(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(mut q): ApiQuery<AuditQuery>,
) -> Response {
    q.limit = Some(q.limit.unwrap_or(PAGE_SIZE).min(PAGE_SIZE));
    let (listed, error, status) = match q.to_filter() {
        Ok(filter) => match page(&state, &p.org.id, &filter).await {
            Ok(page) => (page, None, StatusCode::OK),
            Err(e) => return error_page(e),
        },
        Err(e) => (
            AuditPage {
                events: vec![],
                next_before: None,
            },
            Some(e.message),
            StatusCode::BAD_REQUEST,
        ),
    };
    let (users, connections) = match choices(&state, &p, &q).await {
        Ok(c) => c,
        Err(e) => return error_page(e),
    };
    render(
        status,
        &ActivityPage {
            nav: Nav::of(&p),
            org_name: p.org.name.clone(),
            events: listed.events,
            users,
            connections,
            query: filters_query(&q),
            next_before: listed.next_before,
            action: q.action.unwrap_or_default(),
            since: q.since.unwrap_or_default(),
            error,
        },
    )
}

/// The filtered log as CSV, newest first: ids and names side by side, spreadsheet-safe.
async fn export(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(mut q): ApiQuery<AuditQuery>,
) -> Response {
    q.limit = Some(q.limit.unwrap_or(crate::http::api::audit::MAX_LIMIT));
    let listed = match q.to_filter() {
        Ok(filter) => match page(&state, &p.org.id, &filter).await {
            Ok(page) => page,
            Err(e) => return error_page(e),
        },
        Err(e) => return error_page(e),
    };
    let header = [
        "id",
        "time",
        "actor",
        "actor_name",
        "action",
        "target",
        "target_name",
        "outcome",
        "client_ip",
        "request_id",
        "details",
    ];
    let mut rows = vec![header.iter().map(|h| Some((*h).to_owned())).collect()];
    for e in listed.events {
        rows.push(vec![
            Some(e.id.to_string()),
            Some(e.time),
            Some(e.actor),
            e.actor_name,
            Some(e.action),
            e.target,
            e.target_name,
            Some(e.outcome),
            e.client_ip,
            e.request_id,
            Some(e.details.to_string()),
        ]);
    }
    let mut resp = csv(&rows, CsvCells::SpreadsheetSafe).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"activity.csv\""),
    );
    resp
}
