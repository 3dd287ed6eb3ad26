//! What the matrix expects of each route, written independently of the code: the intended
//! policy, and the refusals an allowed caller may still get.

use lakegate::auth::{Access, Scope};
use lakegate::http::{M, RouteInfo};
use reqwest::StatusCode;

/// The intended policy of every route, written independently of the code: a route
/// missing here fails the matrix, and so does a route whose declared policy drifts.
pub(super) fn intended_access(route: &RouteInfo) -> Access {
    use Access::*;
    match (route.method, route.path) {
        (
            M::Get,
            "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json" | "/static/app.css"
            | "/static/app.js" | "/login",
        ) => Public,
        (M::Post, "/login") => Public,
        (M::Get, "/login/sso" | "/login/sso/callback") => Public,
        (M::Get | M::Put | M::Delete, "/api/v1/sso") => Admin,
        (
            M::Get,
            "/connections/oauth/databricks/start"
            | "/connections/oauth/databricks/callback"
            | "/connections/oauth/snowflake/callback"
            | "/connections/oauth/bigquery/callback",
        ) => Public,
        (M::Get, "/api/v1/connections" | "/api/v1/connections/{id}") => {
            User(Some(Scope::ConnectionsRead))
        }
        (M::Post, "/api/v1/connections") => User(Some(Scope::ConnectionsWrite)),
        (M::Patch | M::Delete, "/api/v1/connections/{id}") => User(Some(Scope::ConnectionsWrite)),
        (M::Post, "/api/v1/connections/{id}/sign-in") => User(Some(Scope::ConnectionsRead)),
        (M::Get | M::Delete, "/api/v1/connections/{id}/credential") => {
            User(Some(Scope::ConnectionsRead))
        }
        (M::Post, "/api/v1/connections/{id}/test") => User(Some(Scope::QueriesRun)),
        (M::Post, "/api/v1/connections/{id}/access-token") => User(Some(Scope::TokensVend)),
        (M::Post, "/api/v1/connections/{id}/queries") => User(Some(Scope::QueriesRun)),
        (M::Get, "/api/v1/queries" | "/api/v1/queries/{id}") => User(Some(Scope::QueriesRun)),
        (M::Post, "/api/v1/queries/{id}/cancel") => User(Some(Scope::QueriesRun)),
        (
            M::Get,
            "/api/v1/connections/{id}/warehouses"
            | "/api/v1/connections/{id}/catalogs"
            | "/api/v1/connections/{id}/catalogs/{catalog}/schemas"
            | "/api/v1/connections/{id}/catalogs/{catalog}/schemas/{schema}/tables",
        ) => User(Some(Scope::ConnectionsRead)),
        (M::Get, "/connections" | "/connections/{id}") => User(Some(Scope::ConnectionsRead)),
        (M::Get, "/queries") => User(Some(Scope::QueriesRun)),
        (M::Get | M::Post, "/connections/new") => User(Some(Scope::ConnectionsWrite)),
        (M::Post, "/connections/{id}/sign-in" | "/connections/{id}/disconnect") => {
            User(Some(Scope::ConnectionsRead))
        }
        (
            M::Post,
            "/connections/{id}/settings"
            | "/connections/{id}/delete"
            | "/connections/{id}/secret"
            | "/connections/{id}/vending"
            | "/connections/{id}/fallback",
        ) => User(Some(Scope::ConnectionsWrite)),
        (M::Post, "/connections/{id}/test") => User(Some(Scope::QueriesRun)),
        (M::Get, "/api/v1/integrations") => Admin,
        (M::Get | M::Put | M::Delete, "/api/v1/integrations/databricks-oauth-u2m") => Admin,
        (M::Get | M::Put | M::Delete, "/api/v1/integrations/snowflake-oauth") => Admin,
        (M::Get | M::Post, "/settings/advanced/integrations/snowflake-oauth") => Admin,
        (M::Post, "/settings/advanced/integrations/snowflake-oauth/delete") => Admin,
        (M::Get | M::Put | M::Delete, "/api/v1/integrations/bigquery-oauth") => Admin,
        (M::Get | M::Post, "/settings/advanced/integrations/bigquery-oauth") => Admin,
        (M::Post, "/settings/advanced/integrations/bigquery-oauth/delete") => Admin,
        (M::Get, "/settings/advanced/integrations") => Admin,
        (M::Get, "/settings/advanced/access") => Admin,
        (
            M::Post,
            "/settings/advanced/access/origins"
            | "/settings/advanced/access/sso"
            | "/settings/advanced/access/sso/delete",
        ) => Admin,
        (M::Get | M::Post, "/settings/advanced/integrations/databricks-oauth-u2m") => Admin,
        (M::Post, "/settings/advanced/integrations/databricks-oauth-u2m/delete") => Admin,
        (M::Post, "/api/v1/integrations/databricks-oauth-u2m/hosts") => Admin,
        (M::Delete, "/api/v1/integrations/databricks-oauth-u2m/hosts/{host}") => Admin,
        (
            M::Post,
            "/settings/advanced/integrations/databricks-oauth-u2m/hosts"
            | "/settings/advanced/integrations/databricks-oauth-u2m/hosts/remove",
        ) => Admin,
        (M::Post, "/logout") => User(None),
        (M::Get, "/api/v1/me") => User(None),
        (M::Get | M::Post, "/api/v1/users") => Admin,
        (M::Patch | M::Delete, "/api/v1/users/{id}") => Admin,
        (M::Get | M::Post, "/api/v1/tokens") => User(None),
        (M::Delete, "/api/v1/tokens/{id}") => User(None),
        (M::Get, "/api/v1/audit") => Admin,
        (M::Get | M::Post, "/api/v1/service-keys") => Admin,
        (M::Put | M::Get | M::Delete, "/api/v1/users/by-external-id/{external_id}") => {
            Platform(Scope::UsersWrite)
        }
        (M::Delete, "/api/v1/service-keys/{id}") => Admin,
        (M::Get | M::Post, "/api/v1/webhooks") => Admin,
        (M::Get | M::Patch | M::Delete, "/api/v1/webhooks/{id}") => Admin,
        (M::Get, "/api/v1/webhooks/{id}/deliveries") => Admin,
        (M::Post, "/api/v1/webhooks/{id}/deliveries/{message_id}/replay") => Admin,
        (M::Post, "/api/v1/webhooks/{id}/rotate-secret") => Admin,
        (M::Get | M::Post, "/settings/advanced/webhooks") => Admin,
        (
            M::Post,
            "/settings/advanced/webhooks/{id}/delete"
            | "/settings/advanced/webhooks/{id}/rotate-secret"
            | "/settings/advanced/webhooks/{id}/deliveries/{message_id}/replay",
        ) => Admin,
        (M::Post, "/api/v1/connect-sessions") => Platform(Scope::ConnectWrite),
        (M::Get | M::Patch, "/api/v1/org") => Admin,
        (M::Get | M::Post, "/settings/service-keys") => Admin,
        (M::Post, "/settings/service-keys/{id}/revoke") => Admin,
        (M::Get, "/") => User(None),
        (M::Get | M::Post, "/settings/users") => Admin,
        (M::Post, "/settings/users/{id}") => Admin,
        (M::Get | M::Post, "/settings/api-tokens") => User(None),
        (M::Post, "/settings/api-tokens/{id}/revoke") => User(None),
        (M::Get, "/settings/activity" | "/settings/activity.csv" | "/settings/health") => Admin,
        (m, p) => panic!("{m:?} {p} is not in the route matrix: add its intended policy"),
    }
}

/// What an allowed cell may answer besides success (2xx, or a page's 303 after a form):
/// the 4xx a route gives when the caller is authorized but the world is not ready for the
/// request (no warehouse sign-in yet, nothing to delete, a fixture without a statement).
/// Never a 5xx.
pub(super) fn allowed_refusals(route: &RouteInfo) -> &'static [StatusCode] {
    const NEEDS_SIGN_IN: &[StatusCode] = &[StatusCode::CONFLICT];
    match (route.method, route.path) {
        // No Databricks credential yet: 409 needs_sign_in.
        (
            M::Post,
            "/api/v1/connections/{id}/test"
            | "/api/v1/connections/{id}/access-token"
            | "/connections/{id}/test",
        )
        | (M::Post, "/api/v1/connections/{id}/queries")
        | (
            M::Get,
            "/api/v1/connections/{id}/warehouses"
            | "/api/v1/connections/{id}/catalogs"
            | "/api/v1/connections/{id}/catalogs/{catalog}/schemas"
            | "/api/v1/connections/{id}/catalogs/{catalog}/schemas/{schema}/tables",
        ) => NEEDS_SIGN_IN,
        // The matrix's connection is U2M: it holds no secret or token to replace, and its
        // token vending is not a setting (400).
        (M::Post, "/connections/{id}/secret" | "/connections/{id}/vending") => {
            &[StatusCode::BAD_REQUEST]
        }
        // The fixture query's statement was never submitted, and its connection has no
        // credential: following it up needs a sign-in.
        (M::Get, "/api/v1/queries/{id}") | (M::Post, "/api/v1/queries/{id}/cancel") => {
            NEEDS_SIGN_IN
        }
        // The matrix's world has no Snowflake account: saving one is refused (the emulated
        // workspace answers 404 at /oauth/authorize: 422 on the API, the form again on the
        // page), and there is none to delete.
        // Nor a Google OAuth client: the emulated Google refuses the matrix's client id.
        (
            M::Put | M::Post,
            "/api/v1/integrations/snowflake-oauth"
            | "/settings/advanced/integrations/snowflake-oauth"
            | "/api/v1/integrations/bigquery-oauth"
            | "/settings/advanced/integrations/bigquery-oauth",
        ) => &[StatusCode::UNPROCESSABLE_ENTITY],
        (
            M::Delete | M::Post,
            "/api/v1/integrations/snowflake-oauth"
            | "/settings/advanced/integrations/snowflake-oauth/delete"
            | "/api/v1/integrations/bigquery-oauth"
            | "/settings/advanced/integrations/bigquery-oauth/delete",
        ) => &[StatusCode::NOT_FOUND],
        // The matrix reaches no identity provider: saving one is refused as unreachable.
        (M::Put, "/api/v1/sso") | (M::Post, "/settings/advanced/access/sso") => {
            &[StatusCode::BAD_REQUEST]
        }
        // Workspaces: `localhost:1` is no workspace (422 on adding it, 400 on removing a host
        // that is not on the list, 404 where the org has no integration); the page's forms
        // come without a host (400, the form again).
        (
            M::Post | M::Delete,
            "/api/v1/integrations/databricks-oauth-u2m/hosts"
            | "/api/v1/integrations/databricks-oauth-u2m/hosts/{host}"
            | "/settings/advanced/integrations/databricks-oauth-u2m/hosts"
            | "/settings/advanced/integrations/databricks-oauth-u2m/hosts/remove",
        ) => &[
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
        ],
        // Disconnecting without a credential: 409 needs_sign_in (there is nothing to remove).
        (M::Delete, "/api/v1/connections/{id}/credential") => NEEDS_SIGN_IN,
        _ => &[],
    }
}
