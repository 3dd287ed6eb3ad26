//! `/api/openapi.json`, generated from the route table: every JSON route with its method,
//! summary, path and query parameters, the security it requires, the JSON Schema of its
//! request body and of each success answer (derived from the very types the handler reads
//! and returns), and the error envelope for the error statuses.

use axum::Json;
use serde_json::{Map, Value, json};

use super::routes::{Answer, Kind, M, Registry, RequestBody, RouteInfo};
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
    let mut declared: Vec<Declared> = table
        .iter()
        .map(|r| Declared {
            body: reg.body_of(r).cloned(),
            query: reg.query_of(r).cloned(),
            answers: reg.answers_of(r),
        })
        .collect();
    if let Some(last) = declared.last_mut() {
        last.answers = vec![Answer {
            status: 200,
            content: vec![("application/json", json!({"type": "object"}))],
        }];
    }
    let doc = document(&table, &declared);
    reg.add(
        me.method,
        me.path,
        me.kind,
        me.access,
        me.summary,
        move || async move { Json(doc) },
    );
}

/// The schema of a path parameter: ids are opaque strings; external ids have their rules.
fn path_schema(name: &str) -> Value {
    match name {
        "external_id" => json!({"type": "string", "pattern": "^[A-Za-z0-9._~@+-]{1,200}$"}),
        _ => json!({"type": "string", "minLength": 1}),
    }
}

/// What a route declared besides its row of the table.
struct Declared {
    body: Option<RequestBody>,
    query: Option<Value>,
    answers: Vec<Answer>,
}

/// Query parameters from the schema of the type a handler reads its query string into.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let mut prop = prop.clone();
                    let description = prop.as_object_mut().and_then(|o| o.remove("description"));
                    let mut param = json!({
                        "name": name,
                        "in": "query",
                        "required": required.contains(&name.as_str()),
                        "schema": prop,
                    });
                    if let (Some(d), Some(o)) = (description, param.as_object_mut()) {
                        o.insert("description".into(), d);
                    }
                    param
                })
                .collect()
        })
        .unwrap_or_default()
}

fn responses(r: &RouteInfo, d: &Declared) -> Value {
    let mut out = Map::new();
    for a in &d.answers {
        let mut answer = json!({"description": description(a.status)});
        if !a.content.is_empty() {
            let content: Map<String, Value> = a
                .content
                .iter()
                .map(|(media, schema)| ((*media).to_owned(), json!({"schema": schema})))
                .collect();
            answer["content"] = Value::Object(content);
        }
        out.insert(a.status.to_string(), answer);
    }
    let error = json!({"$ref": "#/components/responses/Error"});
    let has_input = d.body.is_some() || d.query.is_some() || r.path.contains('{');
    if has_input {
        out.insert("400".into(), error.clone());
    }
    if r.access != Access::Public {
        out.insert("401".into(), error.clone());
        out.insert("403".into(), error.clone());
    }
    if r.path.contains('{') {
        out.insert("404".into(), error.clone());
    }
    // Conflicts, refusals by the warehouse, rate limits and upstream trouble.
    out.insert("default".into(), error);
    Value::Object(out)
}

fn description(status: u16) -> &'static str {
    match status {
        200 => "Success",
        201 => "Created",
        202 => "Accepted: still running; poll the `Location`",
        204 => "Done; no body",
        _ => "Success",
    }
}

fn document(table: &[RouteInfo], declared: &[Declared]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (r, d) in table
        .iter()
        .zip(declared)
        .filter(|(r, _)| r.kind == Kind::Api)
    {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_schema(name)}))
            .collect();
        if let Some(q) = &d.query {
            params.extend(query_parameters(q));
        }
        let security = match r.access {
            Access::Public => json!([]),
            Access::User(None) => json!([{"session": []}, {"bearer": []}]),
            Access::User(Some(crate::auth::Scope::Admin)) => {
                json!([{"session": []}, {"bearer": ["admin"]}])
            }
            Access::User(Some(scope)) => json!([
                {"session": []},
                {"bearer": [scope.as_str()]},
                {"serviceKey": [scope.as_str()]}
            ]),
            Access::Admin => json!([{"session": []}, {"bearer": ["admin"]}]),
            Access::Platform(scope) => json!([
                {"session": []},
                {"bearer": ["admin"]},
                {"bearer": [scope.as_str()]},
                {"serviceKey": [scope.as_str()]}
            ]),
        };
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id(r),
            "parameters": params,
            "security": security,
            "responses": responses(r, d),
        });
        if let (Some(body), Some(obj)) = (&d.body, op.as_object_mut()) {
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
                "bearer": {"type": "http", "scheme": "bearer", "description": "Personal API token (lgp_…) with scopes"},
                "serviceKey": {"type": "http", "scheme": "bearer",
                               "description": "An org's service key (lgk_…) acting for the user named in the `Lakegate-User: user:<id>` header, with that user's rights bounded by the key's scopes"}
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
