//! Server-rendered pages. Each page struct names its template; the layout gets `nav`.

mod access;
mod activity;
mod bigquery_form;
mod connection_page;
mod connections;
mod health;
mod home;
mod integration_hosts;
mod integrations;
mod login;
pub mod oauth_flow;
mod queries;
mod secrets;
mod settings;
mod shared_identity;
mod snowflake_form;
mod sso;
mod webhooks;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiError;
use super::routes::Registry;
use crate::accounts::Role;
use crate::auth::{Principal, Via};

pub fn register(reg: &mut Registry) {
    login::register(reg);
    sso::register(reg);
    home::register(reg);
    activity::register(reg);
    health::register(reg);
    settings::register(reg);
    secrets::register(reg);
    integrations::register(reg);
    snowflake_form::register(reg);
    bigquery_form::register(reg);
    access::register(reg);
    connections::register(reg);
    shared_identity::register(reg);
    integration_hosts::register(reg);
    webhooks::register(reg);
    oauth_flow::register(reg);
    queries::register(reg);
}

/// What the layout shows about the signed-in user.
pub struct Nav {
    pub email: String,
    pub org_name: String,
    pub role: &'static str,
    pub is_admin: bool,
    /// May run queries (and so has a query history).
    pub can_query: bool,
    pub csrf: String,
}

impl Nav {
    pub fn of(p: &Principal) -> Option<Nav> {
        let csrf = match &p.via {
            Via::Session { csrf_token, .. } => csrf_token.clone(),
            Via::Token { .. } | Via::Service { .. } => String::new(),
        };
        Some(Nav {
            email: p.user.email.clone(),
            org_name: p.org.name.clone(),
            role: p.user.role.as_str(),
            is_admin: p.user.role == Role::Admin,
            can_query: p.may(crate::auth::Scope::QueriesRun),
            csrf,
        })
    }
}

/// Renders a template; pages are never cached (they may show a token once).
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

/// An error as a page, with the same status the API would use.
pub fn error_page(err: ApiError) -> Response {
    let title = match err.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let retry_after = err.retry_after;
    let mut resp = render(
        err.status,
        &ErrorPage {
            nav: None,
            title: title.into(),
            message: err.message,
        },
    );
    if let Some(v) =
        retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub fn not_found_page() -> Response {
    error_page(ApiError::not_found("page"))
}

/// A form that could not be read, answered with an error page.
pub struct PageRejection(ApiError);

impl From<axum_extra::extract::FormRejection> for PageRejection {
    fn from(r: axum_extra::extract::FormRejection) -> Self {
        PageRejection(ApiError::bad_request(format!("invalid form: {r}")))
    }
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

/// A page's form (repeated fields, such as checkboxes of one name, become a `Vec`); a form
/// that cannot be read gets the error page.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum_extra::extract::Form), rejection(PageRejection))]
pub struct PageForm<T>(pub T);
