//! The HTTP surface: one route table from which the router, the access checks and the
//! OpenAPI document are all built, so none of them can drift from the others.

pub mod api;
mod domain_errors;
pub mod error;
mod guard;
mod local_path;
mod observe;
mod openapi;
mod routes;
mod service;
pub mod state;
pub mod ui;

pub use routes::{Kind, M, RouteInfo};

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use state::AppState;

/// Largest request body accepted anywhere.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the router and returns it with the route table it was built from.
pub fn router(state: AppState) -> (Router, Vec<RouteInfo>) {
    let mut reg = routes::Registry::new(state.clone());
    service::register(&mut reg);
    api::register(&mut reg);
    ui::register(&mut reg);
    openapi::register(&mut reg);
    let (router, table) = reg.finish();

    let secure = state.web.secure_cookies();
    let mut router = router
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, REQUEST_TIMEOUT))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        // Not `no-referrer`: under it Chromium sends `Origin: null` on form POSTs, which the
        // CSRF check must refuse. `same-origin` still gives other sites no referrer at all.
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ));
    if secure {
        router = router.layer(header_layer(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        ));
    }
    // Outermost, so it sees every response (also 404s, timeouts and panics).
    let router = router.layer(axum::middleware::from_fn_with_state(
        state,
        observe::observe,
    ));
    (router, table)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
