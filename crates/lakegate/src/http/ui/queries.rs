//! "My queries": the signed-in user's query history across connections.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Nav, render};
use crate::auth::{Access, Scope};
use crate::clock::rfc3339;
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;

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
}

/// Statements are shown up to this many characters (the whole text is in the API).
const SHOWN_CHARS: usize = 200;

async fn page(State(state): State<AppState>, Auth(p): Auth) -> Response {
    let queries = match state.services.queries.history(&p).await {
        Ok(q) => q,
        Err(e) => return super::error_page(e.into()),
    };
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
        },
    )
}
