//! The per-route guard: authenticate (API token or session cookie), enforce CSRF on
//! cookie-authenticated state changes, apply the route's access policy, and hand the
//! `Principal` to the handler.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::error::ApiError;
use super::routes::{Kind, RouteInfo};
use crate::accounts::Org;
use crate::audit::Actor;
use crate::auth::{Access, Denied, Principal, Scope, Via, api_token, service_key, session};
use crate::crypto::random;
use crate::http::state::AppState;

/// The route template that served a request, for logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct RouteName(pub &'static str);

pub async fn guard(
    State(state): State<AppState>,
    route: RouteInfo,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = match check(&state, &route, req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => refusal,
    };
    resp.extensions_mut().insert(RouteName(route.path));
    resp
}

async fn check(state: &AppState, route: &RouteInfo, req: Request) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    if let Access::Platform(scope) = route.access
        && let Some(key) = presented_service_key(&parts)
    {
        // A service key on an org-level route acts as itself.
        let platform = platform_caller(state, key, scope)
            .await
            .map_err(|e| refuse(route.kind, e))?;
        parts.extensions.insert(platform);
        return Ok(Request::from_parts(parts, body));
    }
    let public = route.access == Access::Public;
    let principal = match authenticate(state, &parts).await {
        Ok(p) => p,
        // Public routes serve anonymous callers even when their credentials are bad.
        Err(_) if public => None,
        Err(e) => return Err(refuse(route.kind, e)),
    };
    let mut body = body;
    // Public routes that change state (the login form) carry their own CSRF check.
    if let Some(Principal {
        via: Via::Session { csrf_token, .. },
        ..
    }) = &principal
        && !route.method.is_safe()
        && !public
    {
        body = check_csrf(state, &parts, body, csrf_token)
            .await
            .map_err(|e| refuse(route.kind, e))?;
    }
    match route.access.check(principal.as_ref()) {
        Ok(()) => {}
        Err(Denied::Unauthenticated) => {
            return Err(match route.kind {
                Kind::Api => ApiError::unauthenticated().into_response(),
                Kind::Page => {
                    Redirect::to(&format!("/login?next={}", encode_next(parts.uri.path())))
                        .into_response()
                }
            });
        }
        Err(Denied::Forbidden(why)) => return Err(refuse(route.kind, ApiError::forbidden(why))),
    }
    if let Some(p) = principal {
        if matches!(route.access, Access::Platform(_)) {
            parts.extensions.insert(Platform {
                org: p.org.clone(),
                label: p.actor_label(),
            });
        }
        parts.extensions.insert(p);
    }
    Ok(Request::from_parts(parts, body))
}

/// The caller of an org-level route: a service key acting as itself, or an admin.
#[derive(Debug, Clone)]
pub struct Platform {
    pub org: Org,
    /// The audit label: `service:<name>`, or the admin's.
    pub label: String,
}

fn presented_service_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| k.starts_with(service_key::KEY_PREFIX))
}

async fn platform_caller(
    state: &AppState,
    presented: &str,
    scope: Scope,
) -> Result<Platform, ApiError> {
    let (key, org) = live_key(state, presented).await?;
    if !service_key::scopes_of(&key).contains(&scope) {
        return Err(ApiError::forbidden(format!(
            "this needs a service key with the {} scope",
            scope.as_str()
        )));
    }
    Ok(Platform {
        org,
        label: format!("service:{}", key.name),
    })
}

async fn live_key(
    state: &AppState,
    presented: &str,
) -> Result<(crate::store::ServiceKeyRow, Org), ApiError> {
    state
        .services
        .service_keys
        .authenticate(presented)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the service key is unknown, expired or revoked",
            )
        })
}

/// Extractor: the org-level caller (routes with `Access::Platform`).
pub struct PlatformAuth(pub Platform);

impl FromRequestParts<AppState> for PlatformAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Platform>()
            .cloned()
            .map(PlatformAuth)
            .ok_or_else(|| ApiError::internal("handler needs a platform caller"))
    }
}

fn refuse(kind: Kind, err: ApiError) -> Response {
    match kind {
        Kind::Api => err.into_response(),
        Kind::Page => super::ui::error_page(err),
    }
}

fn encode_next(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

/// Resolves the caller. A presented bearer token must be valid (no fallback to the
/// cookie); a stale or unknown cookie is simply anonymous.
async fn authenticate(state: &AppState, parts: &Parts) -> Result<Option<Principal>, ApiError> {
    let now = state.now();
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let presented = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthenticated)?
            .trim();
        if presented.starts_with(service_key::KEY_PREFIX) {
            return service_caller(state, parts, presented).await.map(Some);
        }
        return match state.services.api_tokens.authenticate(presented).await? {
            Some((row, user, org)) => {
                let scopes = api_token::scopes_of(&row);
                Ok(Some(Principal {
                    user,
                    org,
                    via: Via::Token { id: row.id, scopes },
                }))
            }
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the API token is unknown, expired or revoked",
            )),
        };
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(state.web.session_cookie()) else {
        return Ok(None);
    };
    Ok(session::resolve(state.store(), cookie.value(), now, state.web.sessions).await?)
}

/// The header that names the user a service key acts for: `user:<id>` or their external id.
const ACTING_FOR: &str = "lakegate-user";

/// A service key acting for the user it names; a key of one org never reaches a user of
/// another (404), and a disabled user is refused.
async fn service_caller(
    state: &AppState,
    parts: &Parts,
    presented: &str,
) -> Result<Principal, ApiError> {
    let (key, org) = live_key(state, presented).await?;
    let named = parts
        .headers
        .get(ACTING_FOR)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "name the user this call is for: Lakegate-User: user:<id> or <external id>",
            )
        })?;
    let user = state
        .store()
        .recent_named_user(&org.id, named, state.now())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if user.disabled {
        return Err(ApiError::forbidden("this user is disabled"));
    }
    Ok(Principal {
        user,
        org,
        via: Via::Service {
            scopes: service_key::scopes_of(&key),
            id: key.id,
            name: key.name,
        },
    })
}

/// Cross-site requests are refused outright; same-site ones must echo the session's
/// CSRF token in `X-CSRF-Token` or, for HTML forms, a `csrf_token` field.
async fn check_csrf(
    state: &AppState,
    parts: &Parts,
    body: Body,
    expected: &str,
) -> Result<Body, ApiError> {
    if !same_origin(state, &parts.headers) {
        return Err(ApiError::csrf());
    }
    if let Some(sent) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if random::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            Ok(body)
        } else {
            Err(ApiError::csrf())
        };
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::csrf());
    }
    let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )
        })?;
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.into_owned());
    match sent {
        Some(s) if random::constant_time_eq(s.as_bytes(), expected.as_bytes()) => {
            Ok(Body::from(bytes))
        }
        _ => Err(ApiError::csrf()),
    }
}

/// Browsers send `Origin` (and `Sec-Fetch-Site`) on cross-site POSTs; refuse any that
/// do not come from our own public origin. Requests without them (curl, old browsers)
/// still need the token.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return false;
    }
    match header("origin") {
        Some(origin) => origin == state.web.origin(),
        None => true,
    }
}

/// The peer address of the request, when the server recorded it.
pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The request id set by the observer.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Extractor: the authenticated caller (only on routes whose policy requires one).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| ApiError::internal("handler needs a principal but its route is public"))
    }
}

/// Extractor: the caller if signed in (public routes).
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Principal>().cloned()))
    }
}

/// Extractor: the audit context of the request (who, from where, which request).
pub struct Audit(pub Actor);

impl FromRequestParts<AppState> for Audit {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let p = parts.extensions.get::<Principal>();
        let platform = parts.extensions.get::<Platform>();
        let (org_id, label) = match (p, platform) {
            (Some(p), _) => (Some(p.org.id.clone()), p.actor_label()),
            (None, Some(k)) => (Some(k.org.id.clone()), k.label.clone()),
            (None, None) => (None, "anonymous".to_owned()),
        };
        Ok(Audit(Actor {
            org_id,
            label,
            client_ip: client_ip(parts),
            request_id: request_id(parts),
        }))
    }
}
