//! The browser half of a sign-in: `/start` binds the flow to this browser and sends it to
//! the provider; each provider's callback is the redirect URL admins register. Both answer `no-store`
//! and `no-referrer`, and the callback redirects at once so no URL with a code stays in
//! the history.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use crate::auth::Access;
use crate::connections::flow::{FLOW_TTL_SECONDS, Failure, Outcome};
use crate::connections::return_url::with_outcome;
use crate::crypto::random;
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::MaybeAuth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;

/// Where a one-time sign-in link leads (it names the first provider for the links
/// already handed out; the ticket says which connection, and so which provider).
pub const START_PATH: &str = "/connections/oauth/databricks/start";

/// The absolute sign-in link for a ticket.
pub fn start_url(state: &AppState, ticket: &Secret) -> String {
    let base = state.web.public_url.as_str().trim_end_matches('/');
    format!("{base}{START_PATH}?ticket={}", ticket.expose())
}

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        START_PATH,
        Kind::Page,
        Access::Public,
        "Start a sign-in (opens a one-time link)",
        start,
    );
    for provider in crate::providers::ALL {
        let info = provider.info();
        reg.add(
            M::Get,
            info.callback_path,
            Kind::Page,
            Access::Public,
            info.title,
            callback,
        );
    }
}

fn browser_cookie(state: &AppState) -> &'static str {
    host_cookie(state, "__Host-lakegate_oauth", "lakegate_oauth")
}

/// A cookie's name: the `__Host-` one when cookies are secure (https), else the plain one.
pub(super) fn host_cookie(
    state: &AppState,
    secure: &'static str,
    plain: &'static str,
) -> &'static str {
    if state.web.secure_cookies() {
        secure
    } else {
        plain
    }
}

/// No caching, no referrer: pages that carry or lead to one-time values.
pub(super) fn private(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn rejected(message: &str) -> Response {
    private(super::error_page(ApiError::new(
        StatusCode::BAD_REQUEST,
        "sign_in_rejected",
        message,
    )))
}

#[derive(Deserialize)]
struct StartQuery {
    ticket: String,
}

async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    q: Result<ApiQuery<StartQuery>, ApiError>,
) -> Response {
    let Ok(ApiQuery(q)) = q else {
        return rejected(
            "This sign-in link is incomplete. Start the sign-in again from the connection page.",
        );
    };
    // One browser-binding value per browser; the flow stores only its hash.
    let binding = jar
        .get(browser_cookie(&state))
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 40)
        .unwrap_or_else(|| random::token(""));
    match state.services.sign_in.begin(&q.ticket, &binding).await {
        Ok(url) => {
            let cookie = Cookie::build((browser_cookie(&state), binding))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.web.secure_cookies())
                .max_age(time::Duration::seconds(FLOW_TTL_SECONDS))
                .build();
            private((jar.add(cookie), Redirect::to(url.as_str())).into_response())
        }
        Err(e) => rejected(e.0),
    }
}

async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    MaybeAuth(p): MaybeAuth,
    RawQuery(query): RawQuery,
) -> Response {
    let browser = jar
        .get(browser_cookie(&state))
        .map(|c| c.value().to_owned());
    let session_user = p.as_ref().map(|p| p.user.id.clone());
    match state
        .services
        .sign_in
        .finish(
            query.as_deref().unwrap_or_default(),
            browser.as_deref(),
            session_user.as_deref(),
        )
        .await
    {
        Ok(outcome) => private(Redirect::to(&destination(&outcome)).into_response()),
        Err(e) => rejected(e.0),
    }
}

/// Where the browser goes after a callback tied to a flow: a connect session's platform URL
/// with `connection_id`, `status` (`connected`, `denied`, `failed`) and `reason`; otherwise
/// the local return path with `signin=ok` (and `changed=1`) or `signin=<failure code>`.
fn destination(outcome: &Outcome) -> String {
    let (connection_id, return_path, return_url, failure, changed) = match outcome {
        Outcome::SignedIn {
            connection_id,
            return_path,
            return_url,
            identity_changed,
        } => (
            connection_id,
            return_path,
            return_url,
            None,
            *identity_changed,
        ),
        Outcome::Failed {
            connection_id,
            return_path,
            return_url,
            failure,
        } => (
            connection_id,
            return_path,
            return_url,
            Some(*failure),
            false,
        ),
    };
    match return_url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        Some(platform) => {
            let status = match failure {
                None => "connected",
                Some(Failure::Cancelled) => "denied",
                Some(_) => "failed",
            };
            with_outcome(&platform, connection_id, status, failure.map(Failure::code)).into()
        }
        None => {
            let sep = if return_path.contains('?') { '&' } else { '?' };
            let code = failure.map_or("ok", Failure::code);
            let changed = if changed { "&changed=1" } else { "" };
            format!("{return_path}{sep}signin={code}{changed}")
        }
    }
}
