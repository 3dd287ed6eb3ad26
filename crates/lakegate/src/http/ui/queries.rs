//! "My queries": the signed-in user's query history across connections.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Nav, render};
use crate::auth::{Access, Scope};
use crate::clock::rfc3339;
use crate::http::api::query_views::{HistoryQuery, cursor};
use crate::http::error::ApiQuery;
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::{QueryFilter, QueryState};

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/queries",
        Kind::Page,
        Access::User(Some(Scope::QueriesRun)),
        "My queries",
        page,
    );
}

struct Row {
    when: String,
    connection_id: String,
    connection: Option<String>,
    statement: String,
    state: String,
    error: Option<String>,
    rows: String,
    seconds: String,
}

#[derive(Template)]
#[template(path = "queries.html")]
struct QueriesPage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    /// The filters' choices: (value, label, selected).
    connections: Vec<(String, String, bool)>,
    outcomes: Vec<(&'static str, bool)>,
    /// The filters as a query string, and the next page's cursor.
    query: String,
    next_before: Option<String>,
    error: Option<String>,
}

/// Rows per page.
const PAGE_SIZE: i64 = 50;

/// Statements are shown up to this many characters (the whole text is in the API).
const SHOWN_CHARS: usize = 200;

async fn page(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(mut hq): ApiQuery<HistoryQuery>,
) -> Response {
    hq.limit = Some(hq.limit.unwrap_or(PAGE_SIZE).min(PAGE_SIZE));
    let (filter, error) = match hq.to_filter() {
        Ok(f) => (f, None),
        Err(e) => (
            QueryFilter {
                limit: PAGE_SIZE,
                ..Default::default()
            },
            Some(e.message),
        ),
    };
    let queries = match state.services.queries.history(&p, &filter).await {
        Ok(q) => q,
        Err(e) => return super::error_page(e.into()),
    };
    let next_before = queries
        .last()
        .filter(|_| queries.len() as i64 == filter.limit)
        .map(cursor);
    let connections = match state.services.connections.visible(&p).await {
        Ok(all) => all
            .into_iter()
            .map(|c| {
                let selected = filter.connection_id.as_deref() == Some(c.id.as_str());
                (c.id, c.name, selected)
            })
            .collect(),
        Err(e) => return super::error_page(e.into()),
    };
    let outcomes = QueryState::ALL
        .iter()
        .map(|s| (s.as_str(), filter.state == Some(*s)))
        .collect();
    let query = filters_query(&filter);
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for q in &queries {
        if !names.contains_key(&q.connection_id) {
            let name = state
                .store
                .connection(&p.org.id, &q.connection_id)
                .await
                .ok()
                .flatten()
                .map(|c| c.name);
            names.insert(q.connection_id.clone(), name);
        }
    }
    let rows = queries
        .into_iter()
        .map(|q| {
            let mut statement: String = q.statement.chars().take(SHOWN_CHARS).collect();
            if q.statement.chars().count() > SHOWN_CHARS {
                statement.push('…');
            }
            Row {
                when: rfc3339(q.submitted_at),
                connection: names.get(&q.connection_id).cloned().flatten(),
                connection_id: q.connection_id,
                statement,
                state: q.state.as_str().to_owned(),
                error: q.error_message,
                rows: q.row_count.map(|n| n.to_string()).unwrap_or_default(),
                seconds: q
                    .finished_at
                    .map(|f| (f - q.submitted_at).to_string())
                    .unwrap_or_default(),
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &QueriesPage {
            nav: Nav::of(&p),
            rows,
            connections,
            outcomes,
            query,
            next_before,
            error,
        },
    )
}

/// The filters as a query string (no paging), for the next page's link.
fn filters_query(f: &QueryFilter) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(c) = &f.connection_id {
        query.append_pair("connection", c);
    }
    if let Some(s) = f.state {
        query.append_pair("outcome", s.as_str());
    }
    query.finish()
}
