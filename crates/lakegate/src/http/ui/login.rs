use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::render;
use crate::auth::login::{LoginError, LoginInput};
use crate::auth::{Access, Via};
use crate::crypto::random;
use crate::http::error::{ApiError, ApiForm, ApiQuery};
use crate::http::guard::{Audit, Auth, MaybeAuth, same_origin};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/login",
        Kind::Page,
        Access::Public,
        "Sign-in form",
        form,
    );
    reg.add(
        M::Post,
        "/login",
        Kind::Page,
        Access::Public,
        "Sign in",
        submit,
    );
    reg.add(
        M::Post,
        "/logout",
        Kind::Page,
        Access::User(None),
        "Sign out",
        logout,
    );
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<super::Nav>,
    error: Option<String>,
    org: String,
    email: String,
    csrf: String,
    next: String,
}

/// Only same-origin relative paths are followed after sign-in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if crate::http::local_path::is_local_path(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

pub(super) fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_seconds: i64,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.web.secure_cookies())
        .max_age(time::Duration::seconds(max_age_seconds))
        .build()
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// The form, with a fresh login-CSRF value in a cookie and a hidden field (double submit).
fn login_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    error: Option<String>,
    org: String,
    email: String,
    next: String,
) -> Response {
    let csrf = random::token("");
    let jar = jar.add(cookie(
        state,
        state.web.login_csrf_cookie(),
        csrf.clone(),
        3600,
    ));
    (
        jar,
        render(
            status,
            &LoginPage {
                nav: None,
                error,
                org,
                email,
                csrf,
                next,
            },
        ),
    )
        .into_response()
}

async fn form(
    State(state): State<AppState>,
    MaybeAuth(p): MaybeAuth,
    jar: CookieJar,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if p.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_page(
        &state,
        jar,
        StatusCode::OK,
        None,
        String::new(),
        String::new(),
        next,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    org: String,
    email: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Audit(ctx): Audit,
    form: Result<ApiForm<LoginForm>, ApiError>,
) -> Response {
    let form = match form {
        Ok(ApiForm(f)) => f,
        Err(e) => return super::error_page(e),
    };
    let origin_ok = same_origin(&state, &headers);
    let next = safe_next(form.next.as_deref());
    let expected = jar
        .get(state.web.login_csrf_cookie())
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !origin_ok
        || expected.is_empty()
        || !random::constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes())
    {
        let msg = "Your sign-in form expired. Please try again.".to_owned();
        return login_page(
            &state,
            jar,
            StatusCode::FORBIDDEN,
            Some(msg),
            form.org,
            form.email,
            next,
        );
    }
    let input = LoginInput {
        org: form.org.clone(),
        email: form.email.clone(),
        password: Secret::new(form.password),
        client_ip: ctx.client_ip,
        request_id: ctx.request_id,
    };
    match state.services.logins.login(input).await {
        Ok((session_id, _user)) => {
            let jar = jar
                .remove(Cookie::build(state.web.login_csrf_cookie()).path("/"))
                .add(cookie(
                    &state,
                    state.web.session_cookie(),
                    session_id.expose().to_owned(),
                    state.web.sessions.absolute_seconds,
                ));
            (jar, Redirect::to(&next)).into_response()
        }
        Err(e @ LoginError::BadCredentials) => login_page(
            &state,
            jar,
            StatusCode::UNAUTHORIZED,
            Some(e.to_string()),
            form.org,
            form.email,
            next,
        ),
        Err(e @ LoginError::PasswordDisabled) => login_page(
            &state,
            jar,
            StatusCode::FORBIDDEN,
            Some(e.to_string()),
            form.org,
            form.email,
            next,
        ),
        Err(LoginError::Throttled(retry)) => super::error_page(ApiError::rate_limited(retry.0)),
        Err(e) => super::error_page(ApiError::internal(e)),
    }
}

async fn logout(State(state): State<AppState>, Auth(p): Auth, jar: CookieJar) -> Response {
    if let Via::Session { id_hash, .. } = &p.via
        && let Err(e) = state.services.logins.logout(id_hash).await
    {
        return super::error_page(e.into());
    }
    let jar = jar.remove(Cookie::build(state.web.session_cookie()).path("/"));
    (jar, Redirect::to("/login")).into_response()
}
