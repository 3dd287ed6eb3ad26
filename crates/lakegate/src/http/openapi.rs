//! `/api/openapi.json`, generated from the route table: every JSON route with its method,
//! summary, parameters, the security it requires and, where it reads one, the JSON Schema of
//! its request body (derived from the very type the handler deserializes).

use axum::Json;
use serde_json::{Map, Value, json};

use super::routes::{Kind, M, Registry, RequestBody, RouteInfo};
use crate::auth::Access;

pub fn register(reg: &mut Registry) {
    let mut table = reg.table().to_vec();
    let me = RouteInfo {
        method: M::Get,
        path: "/api/openapi.json",
        kind: Kind::Api,
        access: Access::Public,
        summary: "This OpenAPI document",
    };
    table.push(me.clone());
    let doc = document(&table, |r| reg.body_of(r).cloned());
    reg.add(
        me.method,
        me.path,
        me.kind,
        me.access,
        me.summary,
        move || async move { Json(doc) },
    );
}

fn document(table: &[RouteInfo], body_of: impl Fn(&RouteInfo) -> Option<RequestBody>) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in table.iter().filter(|r| r.kind == Kind::Api) {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let security = match r.access {
            Access::Public => json!([]),
            Access::User(None) => json!([{"session": []}, {"bearer": []}]),
            Access::User(Some(scope)) => json!([{"session": []}, {"bearer": [scope.as_str()]}]),
            Access::Admin => json!([{"session": []}, {"bearer": ["admin"]}]),
        };
        let mut responses = json!({"default": {"$ref": "#/components/responses/Error"}});
        if let Some(obj) = responses.as_object_mut() {
            obj.insert("200".into(), json!({"description": "Success"}));
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id(r),
            "parameters": params,
            "security": security,
            "responses": responses,
        });
        if let (Some(body), Some(obj)) = (body_of(r), op.as_object_mut()) {
            obj.insert(
                "requestBody".into(),
                json!({"required": body.required, "content": {"application/json": {"schema": body.schema}}}),
            );
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(r.method.method().as_str().to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Lakegate", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "lakegate_session",
                            "description": "Browser session; state-changing calls also need the X-CSRF-Token header"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "Personal API token (lgp_…) with scopes"}
            },
            "responses": {
                "Error": {
                    "description": "Error envelope",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["error"],
                        "properties": {"error": {"type": "object", "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
                    }}}
                }
            }
        }
    })
}

fn operation_id(r: &RouteInfo) -> String {
    let mut id = r.method.method().as_str().to_lowercase();
    for seg in r
        .path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
    {
        id.push('_');
        id.extend(
            seg.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    id
}
