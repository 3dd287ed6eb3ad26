//! projects.list (only projects where the user has a project-level role), datasets.list
//! (datasets the user can read, `datasets` omitted when none), tables.list and tables.get
//! with schema — each paged with `maxResults` / `pageToken`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{caller, cells, error, grants, ok, page, project};
use crate::engine::sql::catalog::tables as all_tables;
use crate::engine::sql::plan::grant_matches;
use crate::state::Shared;

type Q = Query<HashMap<String, String>>;

/// One page of a listing: `key` holds this page's items (left out when there are none and
/// `omit_empty`, as datasets.list does), with `nextPageToken` while more follow.
fn listing(
    s: &Shared,
    q: &HashMap<String, String>,
    kind: &str,
    key: &str,
    all: &[Value],
    omit_empty: bool,
) -> Response {
    let token = q.get("pageToken").map(String::as_str);
    let max = q.get("maxResults").and_then(|m| m.parse().ok());
    let (items, next) = page(all, token, max, s.config.page_size);
    let mut body = json!({"kind": kind, "etag": "\"emulated\""});
    if !(items.is_empty() && omit_empty) {
        body[key] = json!(items);
    }
    if !omit_empty {
        body["totalItems"] = json!(all.len());
    }
    if let Some(n) = next {
        body["nextPageToken"] = json!(n);
    }
    ok(body)
}

pub async fn projects(State(s): State<Arc<Shared>>, headers: HeaderMap, Query(q): Q) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mine: Vec<_> = s
        .config
        .google_projects
        .iter()
        .filter(|p| p.members.iter().any(|m| m.eq_ignore_ascii_case(&email)))
        .enumerate()
        .map(|(i, p)| {
            json!({"kind": "bigquery#project", "id": p.id, "numericId": (900_000_000_000u64 + i as u64).to_string(),
                   "projectReference": {"projectId": p.id}, "friendlyName": p.id})
        })
        .collect();
    listing(&s, &q, "bigquery#projectList", "projects", &mine, false)
}

/// The datasets (schemas) of `catalog` that `grants` reach.
fn readable_datasets(catalog: &str, grants: &[String]) -> Vec<&'static str> {
    all_tables()
        .iter()
        .filter(|t| t.catalog == catalog && grants.iter().any(|g| grant_matches(g, &t.full_name())))
        .map(|t| t.schema)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

pub async fn datasets(
    State(s): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let p = match project(&s, &project_id) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let all: Vec<_> = readable_datasets(&p.catalog, &grants(&s, &email))
        .into_iter()
        .map(|d| {
            json!({"kind": "bigquery#dataset", "id": format!("{}:{d}", p.id),
                   "datasetReference": {"projectId": p.id, "datasetId": d}, "location": p.location})
        })
        .collect();
    listing(&s, &q, "bigquery#datasetList", "datasets", &all, true)
}

pub async fn tables(
    State(s): State<Arc<Shared>>,
    Path((project_id, dataset)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let p = match project(&s, &project_id) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let grants = grants(&s, &email);
    if !readable_datasets(&p.catalog, &grants).contains(&dataset.as_str()) {
        return not_found_dataset(&p.id, &dataset);
    }
    let all: Vec<_> = all_tables()
        .iter()
        .filter(|t| t.catalog == p.catalog && t.schema == dataset)
        .filter(|t| grants.iter().any(|g| grant_matches(g, &t.full_name())))
        .map(|t| {
            json!({"kind": "bigquery#table", "id": format!("{}:{}.{}", p.id, dataset, t.name),
                   "tableReference": {"projectId": p.id, "datasetId": dataset, "tableId": t.name},
                   "type": "TABLE", "creationTime": "1700000000000"})
        })
        .collect();
    listing(&s, &q, "bigquery#tableList", "tables", &all, false)
}

fn not_found_dataset(project: &str, dataset: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("Not found: Dataset {project}:{dataset}"),
        None,
    )
}

pub async fn table(
    State(s): State<Arc<Shared>>,
    Path((project_id, dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let p = match project(&s, &project_id) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let grants = grants(&s, &email);
    let found = all_tables().into_iter().find(|t| {
        t.catalog == p.catalog
            && t.schema == dataset
            && t.name == table
            && grants.iter().any(|g| grant_matches(g, &t.full_name()))
    });
    let Some(t) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Table {}:{dataset}.{table}", p.id),
            None,
        );
    };
    let fields: Vec<_> = t
        .columns
        .iter()
        .map(|c| cells::field(c.name, c.type_text))
        .collect();
    ok(json!({
        "kind": "bigquery#table", "id": format!("{}:{dataset}.{table}", p.id),
        "tableReference": {"projectId": p.id, "datasetId": dataset, "tableId": table},
        "schema": {"fields": fields}, "type": "TABLE", "location": p.location,
        "description": t.comment,
    }))
}
