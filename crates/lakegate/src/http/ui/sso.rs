//! Single sign-on in the browser: `/login/sso?org=…` binds a sign-in to this browser and
//! sends it to the org's identity provider; the callback (the redirect URL admins register
//! there) signs the person in with a fresh session. Both answer `no-store`, `no-referrer`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use super::login::{cookie, safe_next};
use super::oauth_flow::{host_cookie, private};
use crate::auth::Access;
use crate::crypto::random;
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::Audit;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::sso::SsoError;
use crate::sso::service::{CALLBACK_PATH, FLOW_TTL_SECONDS};

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/login/sso",
        Kind::Page,
        Access::Public,
        "Sign in through the organization's identity provider",
        start,
    );
    reg.add(
        M::Get,
        CALLBACK_PATH,
        Kind::Page,
        Access::Public,
        "The identity provider's redirect back (register it there)",
        callback,
    );
}

fn browser_cookie(state: &AppState) -> &'static str {
    host_cookie(state, "__Host-lakegate_sso", "lakegate_sso")
}

#[derive(Deserialize)]
struct StartQuery {
    org: String,
    next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    q: Result<ApiQuery<StartQuery>, ApiError>,
) -> Response {
    let Ok(ApiQuery(q)) = q else {
        return private(super::error_page(ApiError::bad_request(
            "name the organization to sign in to",
        )));
    };
    let binding = random::token("");
    let next = safe_next(q.next.as_deref());
    match state.services.sso.begin(&q.org, &binding, &next).await {
        Ok(url) => {
            let c = cookie(&state, browser_cookie(&state), binding, FLOW_TTL_SECONDS);
            private((jar.add(c), Redirect::to(url.as_str())).into_response())
        }
        Err(SsoError::NotConfigured) => private(super::error_page(ApiError::new(
            StatusCode::NOT_FOUND,
            "sso_not_configured",
            "This organization has no single sign-on. Sign in with your password.",
        ))),
        Err(e) => private(super::error_page(e.into())),
    }
}

async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Audit(actor): Audit,
    RawQuery(query): RawQuery,
) -> Response {
    let browser = jar
        .get(browser_cookie(&state))
        .map(|c| c.value().to_owned());
    let sso = &state.services.sso;
    let done = sso
        .finish(
            query.as_deref().unwrap_or_default(),
            browser.as_deref(),
            &actor,
        )
        .await;
    let jar = jar.remove(Cookie::build(browser_cookie(&state)).path("/"));
    match done {
        Ok((session, _user, next)) => {
            let c = cookie(
                &state,
                state.web.session_cookie(),
                session.expose().to_owned(),
                state.web.sessions.absolute_seconds,
            );
            private((jar.add(c), Redirect::to(&next)).into_response())
        }
        Err(refused) => {
            let status = match refused.code {
                "domain" | "disabled" | "subject_conflict" => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let page = super::error_page(ApiError::new(status, "sso_refused", refused.message));
            private((jar, page).into_response())
        }
    }
}
