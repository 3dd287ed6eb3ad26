//! The workspace REST API: bearer-token authentication with Databricks' exact answers,
//! scope checks, SCIM `Me`, and the Unity Catalog listings.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::databricks::errors;
use crate::databricks::faults as control;
use crate::engine::authz::AccessError;
use crate::engine::faults::Target;
use crate::engine::sql::catalog::{Table, tables};
use crate::engine::sql::plan::grant_matches;
use crate::state::{Shared, lock};

/// The authenticated user of a REST call.
#[derive(Debug, Clone)]
pub struct Caller {
    pub email: String,
    pub scopes: Vec<String>,
    pub grants: Vec<String>,
}

/// What an endpoint needs from the token's scopes.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// `sql` or `all-apis` (warehouses, statements).
    Sql,
    /// `all-apis` (Unity Catalog).
    AllApis,
}

impl Caller {
    pub fn require(&self, need: Need) -> Result<(), Response> {
        let has = |s: &str| self.scopes.iter().any(|x| x == s);
        let ok = match need {
            Need::Sql => has("sql") || has("all-apis"),
            Need::AllApis => has("all-apis"),
        };
        if ok {
            Ok(())
        } else {
            Err(errors::rest(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "Provided OAuth token does not have required scopes: this API needs the all-apis (or sql) scope.",
            ))
        }
    }

    pub fn can_read(&self, full_name: &str) -> bool {
        self.grants.iter().any(|g| grant_matches(g, full_name))
    }
}

pub fn router(s: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/preview/scim/v2/Me", get(me))
        .route(
            "/api/2.0/sql/warehouses",
            get(crate::databricks::warehouses::list),
        )
        .route(
            "/api/2.0/sql/warehouses/{id}",
            get(crate::databricks::warehouses::get_one),
        )
        .route("/api/2.1/unity-catalog/catalogs", get(catalogs))
        .route("/api/2.1/unity-catalog/schemas", get(schemas))
        .route("/api/2.1/unity-catalog/tables", get(tables_list))
        .route(
            "/api/2.0/sql/history/queries",
            get(crate::databricks::statements::history),
        )
        .route(
            "/api/2.0/sql/statements",
            post(crate::databricks::statements::execute),
        )
        .route(
            "/api/2.0/sql/statements/",
            post(crate::databricks::statements::execute),
        )
        .route(
            "/api/2.0/sql/statements/{id}",
            get(crate::databricks::statements::status),
        )
        .route(
            "/api/2.0/sql/statements/{id}/result/chunks/{index}",
            get(crate::databricks::statements::chunk),
        )
        .route(
            "/api/2.0/sql/statements/{id}/cancel",
            post(crate::databricks::statements::cancel),
        )
        .merge(crate::databricks::principals::workspace_routes())
        .route_layer(axum::middleware::from_fn_with_state(s, authenticate))
}

async fn authenticate(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    lock(&s.oauth).counters.rest_calls += 1;
    if let Some(resp) = control::inject(&s, Target::Rest).await {
        return resp;
    }
    let Some(auth) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return errors::rest(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Credential was not sent or was of an unsupported type for this API.",
        );
    };
    let Some(token) = auth.strip_prefix("Bearer ").map(str::trim) else {
        return errors::rest(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Credential was not sent or was of an unsupported type for this API.",
        );
    };
    // A personal access token acts as its user with every scope, until it expires or is deleted.
    if token.starts_with("dapi") {
        let Some(owner) = lock(&s.principals).pat_owner(token, s.clock.now()) else {
            return errors::invalid_token("Invalid access token.");
        };
        let grants = s
            .user(&owner)
            .map(|u| u.config.grants.clone())
            .unwrap_or_default();
        req.extensions_mut().insert(Caller {
            email: owner,
            scopes: vec!["all-apis".into()],
            grants,
        });
        return next.run(req).await;
    }
    let record = match lock(&s.oauth).access(token, s.clock.now()) {
        Ok(r) => r,
        Err(AccessError::Invalid | AccessError::Expired) => {
            return errors::invalid_token("Invalid access token.");
        }
        Err(AccessError::ExpiringSoon) => {
            return errors::invalid_token("Token is expiring within 30 seconds. (token expired)");
        }
    };
    // A user's grants, or a service principal's (its application id is the token's user).
    let grants = s
        .user(&record.user)
        .map(|u| u.config.grants.clone())
        .or_else(|| lock(&s.principals).grants(&record.user))
        .unwrap_or_default();
    req.extensions_mut().insert(Caller {
        email: record.user,
        scopes: record.scopes,
        grants,
    });
    next.run(req).await
}

async fn me(State(s): State<Arc<Shared>>, Extension(c): Extension<Caller>) -> Response {
    let Some(u) = s.user(&c.email) else {
        let principal = lock(&s.principals).by_app.get(&c.email).cloned();
        return match principal {
            // A service principal's Me: its application id is its user name.
            Some(sp) => Json(json!({
                "id": sp.id, "userName": sp.application_id, "applicationId": sp.application_id,
                "displayName": sp.display_name, "active": true,
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"],
            }))
            .into_response(),
            None => errors::not_found("NOT_FOUND", "User not found."),
        };
    };
    let (given, family) = u
        .config
        .display_name
        .split_once(' ')
        .unwrap_or((&u.config.display_name, ""));
    let body = json!({
        "id": u.scim_id,
        "userName": u.config.email,
        "displayName": u.config.display_name,
        "active": true,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": u.config.email, "type": "work", "primary": true}],
        "groups": u.config.groups.iter().map(|g| json!({"display": g, "value": g, "type": "direct"})).collect::<Vec<_>>(),
        "entitlements": [{"value": "workspace-access"}, {"value": "databricks-sql-access"}],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:workspace:2.0:User"],
    });
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&s.config.org_id) {
        resp.headers_mut().insert("x-databricks-org-id", v);
    }
    resp
}

/// One page of `items`: `page_token` is an offset; only the last page lacks `next_page_token`.
fn page(s: &Shared, key: &str, items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let size = match q.get("max_results").map(|m| m.parse::<i64>()) {
        None => s.config.page_size,
        Some(Ok(0)) => s.config.page_size,
        Some(Ok(n)) if n > 0 => (n as usize).min(s.config.page_size),
        Some(_) => return errors::invalid_parameter("max_results must be a non-negative integer."),
    };
    let start = match q
        .get("page_token")
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<usize>())
    {
        None => 0,
        Some(Ok(n)) if n <= items.len() => n,
        Some(_) => return errors::invalid_parameter("Invalid page_token."),
    };
    let end = (start + size.max(1)).min(items.len());
    let mut body = serde_json::Map::new();
    body.insert(
        key.into(),
        Value::Array(items.get(start..end).unwrap_or_default().to_vec()),
    );
    if end < items.len() {
        body.insert("next_page_token".into(), Value::String(end.to_string()));
    }
    Json(Value::Object(body)).into_response()
}

/// Catalogs and schemas the caller can see: those holding a table they may read.
fn visible(c: &Caller) -> Vec<Table> {
    tables()
        .into_iter()
        .filter(|t| c.can_read(&t.full_name()))
        .collect()
}

async fn catalogs(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = c.require(Need::AllApis) {
        return r;
    }
    let names: BTreeMap<&str, ()> = visible(&c).iter().map(|t| (t.catalog, ())).collect();
    let items = names
        .keys()
        .map(|n| json!({"name": n, "full_name": n, "catalog_type": "MANAGED_CATALOG", "owner": "admins", "comment": format!("{n} catalog"), "created_at": 1_700_000_000_000i64, "metastore_id": "emulated-metastore"}))
        .collect();
    page(&s, "catalogs", items, &q)
}

async fn schemas(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = c.require(Need::AllApis) {
        return r;
    }
    let Some(catalog) = q.get("catalog_name").filter(|c| !c.is_empty()) else {
        return errors::invalid_parameter("Missing required field: catalog_name");
    };
    let mine = visible(&c);
    if !mine.iter().any(|t| t.catalog == catalog) {
        return errors::not_found(
            "CATALOG_DOES_NOT_EXIST",
            format!("Catalog '{catalog}' does not exist."),
        );
    }
    let names: BTreeMap<&str, ()> = mine
        .iter()
        .filter(|t| t.catalog == catalog)
        .map(|t| (t.schema, ()))
        .collect();
    let items = names
        .keys()
        .map(|n| json!({"name": n, "catalog_name": catalog, "full_name": format!("{catalog}.{n}"), "owner": "admins", "comment": ""}))
        .collect();
    page(&s, "schemas", items, &q)
}

async fn tables_list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = c.require(Need::AllApis) {
        return r;
    }
    let (Some(catalog), Some(schema)) = (
        q.get("catalog_name").filter(|v| !v.is_empty()),
        q.get("schema_name").filter(|v| !v.is_empty()),
    ) else {
        return errors::invalid_parameter("Missing required fields: catalog_name and schema_name");
    };
    let mine: Vec<Table> = visible(&c)
        .into_iter()
        .filter(|t| t.catalog == catalog && t.schema == schema)
        .collect();
    if mine.is_empty() {
        return errors::not_found(
            "SCHEMA_DOES_NOT_EXIST",
            format!("Schema '{catalog}.{schema}' does not exist."),
        );
    }
    let omit_columns = q.get("omit_columns").is_some_and(|v| v == "true");
    let items = mine
        .iter()
        .map(|t| {
            let mut v = json!({
                "name": t.name, "catalog_name": t.catalog, "schema_name": t.schema, "full_name": t.full_name(),
                "table_type": "MANAGED", "data_source_format": "DELTA", "owner": "admins", "comment": t.comment,
            });
            if !omit_columns {
                v["columns"] = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| json!({"name": col.name, "type_name": crate::engine::sql::type_name(col.type_text), "type_text": col.type_text, "position": i, "nullable": col.nullable}))
                    .collect();
            }
            v
        })
        .collect();
    page(&s, "tables", items, &q)
}
