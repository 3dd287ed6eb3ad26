//! The route registry: every route is added with its method, path, kind and access
//! policy; the registry wraps it in the guard that enforces that policy and keeps the
//! table for the OpenAPI document and the authorization matrix test.

use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};

use super::error::ApiError;
use super::guard;
use crate::auth::Access;
use crate::http::state::AppState;

/// HTTP methods the service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum M {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl M {
    pub fn method(self) -> Method {
        match self {
            M::Get => Method::GET,
            M::Post => Method::POST,
            M::Put => Method::PUT,
            M::Patch => Method::PATCH,
            M::Delete => Method::DELETE,
        }
    }
    fn filter(self) -> MethodFilter {
        match self {
            M::Get => MethodFilter::GET,
            M::Post => MethodFilter::POST,
            M::Put => MethodFilter::PUT,
            M::Patch => MethodFilter::PATCH,
            M::Delete => MethodFilter::DELETE,
        }
    }
    /// Methods that change state need a CSRF token when authenticated by cookie.
    pub fn is_safe(self) -> bool {
        self == M::Get
    }
}

/// API routes answer JSON; pages answer HTML and redirect anonymous visitors to `/login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Api,
    Page,
}

/// A route's JSON request body, for the OpenAPI document.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub schema: serde_json::Value,
    pub required: bool,
}

/// One success answer of a route, for the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// `(media type, schema)` pairs; empty for a body-less answer (204).
    pub content: Vec<(&'static str, serde_json::Value)>,
}

/// The JSON Schema of `T`, every sub-schema inline (the document has no `$defs` for
/// `$ref`s to point into).
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema =
        serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
    }
    schema
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: M,
    pub path: &'static str,
    pub kind: Kind,
    pub access: Access,
    pub summary: &'static str,
}

pub struct Registry {
    state: AppState,
    router: Router<AppState>,
    table: Vec<RouteInfo>,
    /// JSON Schemas of request bodies, by route (for the OpenAPI document only; kept out of
    /// `RouteInfo`, which the guard clones on every request).
    bodies: Vec<((M, &'static str), RequestBody)>,
    /// Success answers by route, likewise.
    answers: Vec<((M, &'static str), Answer)>,
    /// Query-string schemas by route, likewise.
    queries: Vec<((M, &'static str), serde_json::Value)>,
}

impl Registry {
    pub fn new(state: AppState) -> Self {
        Registry {
            state,
            router: Router::new(),
            table: Vec::new(),
            bodies: Vec::new(),
            answers: Vec::new(),
            queries: Vec::new(),
        }
    }

    pub fn add<H, T>(
        &mut self,
        method: M,
        path: &'static str,
        kind: Kind,
        access: Access,
        summary: &'static str,
        handler: H,
    ) where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let info = RouteInfo {
            method,
            path,
            kind,
            access,
            summary,
        };
        let guarded =
            on(method.filter(), handler).route_layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                move |state: axum::extract::State<AppState>,
                      req: axum::extract::Request,
                      next: axum::middleware::Next| {
                    guard::guard(state, info.clone(), req, next)
                },
            ));
        let router = std::mem::replace(&mut self.router, Router::new());
        self.router = router.route(path, guarded);
        self.table.push(RouteInfo {
            method,
            path,
            kind,
            access,
            summary,
        });
    }

    /// Declares the JSON body of the route added last, from the type its handler reads.
    pub fn body<T: schemars::JsonSchema>(&mut self) {
        self.declare_body::<T>(true);
    }

    /// The same for a body that may be left out.
    pub fn optional_body<T: schemars::JsonSchema>(&mut self) {
        self.declare_body::<T>(false);
    }

    fn declare_body<T: schemars::JsonSchema>(&mut self, required: bool) {
        if let Some(last) = self.table.last() {
            let body = RequestBody {
                schema: schema_of::<T>(),
                required,
            };
            self.bodies.push(((last.method, last.path), body));
        }
    }

    /// Declares a JSON answer of the route added last, from the type its handler returns.
    pub fn answers<T: schemars::JsonSchema>(&mut self, status: u16) {
        self.answer(status, vec![("application/json", schema_of::<T>())]);
    }

    /// Declares a body-less answer (204) of the route added last.
    pub fn answers_empty(&mut self, status: u16) {
        self.answer(status, Vec::new());
    }

    /// Declares an answer of the route added last with these media types and schemas.
    pub fn answer(&mut self, status: u16, content: Vec<(&'static str, serde_json::Value)>) {
        if let Some(last) = self.table.last() {
            self.answers
                .push(((last.method, last.path), Answer { status, content }));
        }
    }

    /// Declares the query string of the route added last, from the type its handler reads.
    pub fn query<T: schemars::JsonSchema>(&mut self) {
        if let Some(last) = self.table.last() {
            self.queries
                .push(((last.method, last.path), schema_of::<T>()));
        }
    }

    /// The declared query-string schema of a route, if any.
    pub fn query_of(&self, r: &RouteInfo) -> Option<&serde_json::Value> {
        self.queries
            .iter()
            .find(|((m, p), _)| *m == r.method && *p == r.path)
            .map(|(_, s)| s)
    }

    /// The declared success answers of a route.
    pub fn answers_of(&self, r: &RouteInfo) -> Vec<Answer> {
        self.answers
            .iter()
            .filter(|((m, p), _)| *m == r.method && *p == r.path)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// The declared body schema of a route, if any.
    pub fn body_of(&self, r: &RouteInfo) -> Option<&RequestBody> {
        self.bodies
            .iter()
            .find(|((m, p), _)| *m == r.method && *p == r.path)
            .map(|(_, s)| s)
    }

    /// The table so far (the OpenAPI route is added last and describes the others).
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    pub fn finish(self) -> (Router, Vec<RouteInfo>) {
        (self.router.with_state(self.state), self.table)
    }
}

/// Unknown paths: the JSON envelope under `/api/`, a plain page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found("route").into_response()
    } else {
        super::ui::not_found_page()
    }
}
