//! Every route of the router's own table × {anonymous, viewer, editor, admin, admin of
//! another org}: no cell answers an unauthorized 2xx; objects of another org or user are
//! 404; allowed cells really succeed. A route with a path parameter the matrix has no
//! fixture for fails the test, so no route can be added without being in it.

use lakegate::accounts::{Org, Role, User};
use lakegate::auth::{Access, Scope};
use lakegate::http::{Kind, M, RouteInfo};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Browser, Sent, TestApp, TestDb, Workspace, anonymous};

crate::on_both_backends!(
    every_route_enforces_its_policy_for_every_role_and_tenant,
    every_cookie_authenticated_state_change_refuses_forged_requests,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Editor,
    Admin,
    OtherOrgAdmin,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Editor,
    Who::Admin,
    Who::OtherOrgAdmin,
];

/// How a cell's caller authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Session,
    Token,
    ServiceKey,
}

/// A client sending these headers on every request.
fn with_headers(headers: &[(&'static str, String)]) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        h.insert(*name, value.parse().unwrap());
    }
    crate::harness::http_builder()
        .default_headers(h)
        .build()
        .unwrap()
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Public routes: no access rule to check.
    Any,
    Unauthenticated,
    Forbidden,
    NotFound,
    Allowed,
}

struct World {
    ws: Workspace,
    app: TestApp,
    org_a: Org,
    org_b: Org,
    viewer: User,
    editor: User,
    admin: User,
    other_admin: User,
    counter: std::sync::atomic::AtomicUsize,
    /// One service key per org, with every scope a key may hold.
    keys: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Whose objects a path parameter names.
enum Owner {
    /// Any admin of org A may act on it.
    OrgA,
    /// Only the editor of org A (it is their own token, or their private connection's use).
    EditorA,
    /// The editor's private connection, which admins of org A may also see and manage.
    EditorAOrAdmin,
    /// Nobody's: each org has its own (an upsert by external id creates in the caller's org).
    Nobody,
}

impl World {
    fn user(&self, who: Who) -> Option<&User> {
        match who {
            Who::Anonymous => None,
            Who::Viewer => Some(&self.viewer),
            Who::Editor => Some(&self.editor),
            Who::Admin => Some(&self.admin),
            Who::OtherOrgAdmin => Some(&self.other_admin),
        }
    }

    fn next(&self) -> usize {
        self.counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// The org's service key (made once).
    async fn service_key(&self, org_id: &str) -> String {
        let mut keys = self.keys.lock().await;
        if let Some(k) = keys.get(org_id) {
            return k.clone();
        }
        let org = self.app.store.org_by_id(org_id).await.unwrap().unwrap();
        let req = lakegate::auth::service_key::NewKey {
            name: "matrix",
            scopes: lakegate::auth::service_key::SCOPES.to_vec(),
            ttl_days: None,
        };
        let actor = lakegate::audit::Actor::cli(Some(org_id.to_owned()));
        let (secret, _) = self
            .app
            .state
            .services
            .service_keys
            .create(&actor, &org, req)
            .await
            .unwrap();
        keys.insert(org_id.to_owned(), secret.expose().to_owned());
        secret.expose().to_owned()
    }

    /// Configures org A's Databricks integration (for routes that delete it).
    async fn configure_org_a(&self) {
        self.configure(&self.org_a.id).await;
    }

    async fn configure(&self, org_id: &str) {
        let input = lakegate::integrations::SaveInput {
            host: self.ws.host(),
            client_id: self.ws.client_id.clone(),
            client_secret: Some(lakegate::secret::Secret::new(self.ws.client_secret.clone())),
            scopes: None,
            lifetimes: None,
        };
        self.app.save_integration(org_id, input).await.unwrap();
    }

    /// A fresh private connection owned by the editor of org A.
    async fn private_connection(&self) -> String {
        self.configure_org_a().await;
        let p = lakegate::auth::Principal {
            user: self.editor.clone(),
            org: self.org_a.clone(),
            via: lakegate::auth::Via::Session {
                id_hash: String::new(),
                csrf_token: String::new(),
            },
        };
        let actor = lakegate::audit::Actor::cli(Some(self.org_a.id.clone()));
        self.app
            .state
            .services
            .connections
            .create(&p, &actor, crate::harness::databricks(), "Private", false)
            .await
            .unwrap()
            .id
    }

    /// A fresh object for the route's `{id}` (requests may delete it), and who owns it.
    async fn fixture(&self, route: &RouteInfo) -> Option<(String, Owner)> {
        let path = route.path;
        let deletes_integration = matches!(
            (route.method, path),
            (M::Delete, "/api/v1/integrations/databricks-oauth-u2m")
                | (
                    M::Post,
                    "/settings/advanced/integrations/databricks-oauth-u2m/delete"
                )
        );
        if deletes_integration {
            // Org A has one to delete; the other org has none, so its admin must get 404
            // (and must not reach org A's).
            self.configure_org_a().await;
            let _ = self
                .app
                .store
                .delete_integration(&self.other_admin.org_id, "databricks-oauth-u2m")
                .await;
            return Some((String::new(), Owner::OrgA));
        }
        if matches!(
            (route.method, path),
            (M::Post, "/api/v1/connections" | "/connections/new")
        ) {
            // Every org's members can make connections once their org is configured.
            self.configure(&self.org_a.id).await;
            self.configure(&self.org_b.id).await;
        }
        if !path.contains('{') {
            return None;
        }
        let n = self.next();
        match path {
            "/api/v1/users/{id}" | "/settings/users/{id}" => {
                let u = self
                    .app
                    .user_with(
                        &self.org_a,
                        &format!("target{n}@a.test"),
                        Role::Viewer,
                        false,
                    )
                    .await;
                Some((u.id, Owner::OrgA))
            }
            "/api/v1/users/by-external-id/{external_id}" => {
                let ext = format!("ext-{n}");
                if route.method == M::Put {
                    return Some((ext, Owner::Nobody));
                }
                let input = lakegate::accounts::service::ExternalUser {
                    email: format!("ext{n}@a.test"),
                    display_name: None,
                    role: None,
                };
                let actor = lakegate::audit::Actor::cli(Some(self.org_a.id.clone()));
                self.app
                    .state
                    .services
                    .accounts
                    .upsert_external(&actor, &self.org_a, &ext, input)
                    .await
                    .unwrap();
                Some((ext, Owner::OrgA))
            }
            "/api/v1/service-keys/{id}" | "/settings/service-keys/{id}/revoke" => {
                let org = self.org_a.clone();
                let req = lakegate::auth::service_key::NewKey {
                    name: "fixture",
                    scopes: vec![Scope::ConnectionsRead],
                    ttl_days: None,
                };
                let actor = lakegate::audit::Actor::cli(Some(org.id.clone()));
                let (_, row) = self
                    .app
                    .state
                    .services
                    .service_keys
                    .create(&actor, &org, req)
                    .await
                    .unwrap();
                Some((row.id, Owner::OrgA))
            }
            "/api/v1/tokens/{id}" | "/settings/api-tokens/{id}/revoke" => {
                let (_, id) = self
                    .app
                    .token(&self.editor, &[Scope::ConnectionsRead])
                    .await;
                Some((id, Owner::EditorA))
            }
            p if p.starts_with("/api/v1/connections/{id}")
                || p.starts_with("/connections/{id}") =>
            {
                let c = self.private_connection().await;
                // Seeing and managing: owner or admin; using: the owner only.
                let manage_or_see = matches!(
                    (route.method, p),
                    (M::Get | M::Patch | M::Delete, "/api/v1/connections/{id}")
                        | (M::Get, "/connections/{id}")
                        | (
                            M::Post,
                            "/connections/{id}/settings" | "/connections/{id}/delete"
                        )
                );
                Some((
                    c,
                    if manage_or_see {
                        Owner::EditorAOrAdmin
                    } else {
                        Owner::EditorA
                    },
                ))
            }
            p if p.starts_with("/api/v1/queries/{id}") => {
                let connection_id = self.private_connection().await;
                let id = format!("query-{n}");
                let row = lakegate::store::QueryRow {
                    id: id.clone(),
                    org_id: self.org_a.id.clone(),
                    user_id: self.editor.id.clone(),
                    connection_id,
                    statement_id: format!("statement-{n}"),
                    statement: "SELECT 1".into(),
                    state: lakegate::store::QueryState::Running,
                    row_limit: None,
                    timeout_seconds: 300,
                    submitted_at: 0,
                    finished_at: None,
                    row_count: None,
                    error_code: None,
                    error_message: None,
                };
                self.app.store.insert_query(&row).await.unwrap();
                // Queries are private to the user who ran them, admins included.
                Some((id, Owner::EditorA))
            }
            other => {
                panic!("route {other} has a path parameter the matrix has no fixture for: add one")
            }
        }
    }

    fn expect(&self, route: &RouteInfo, who: Who, owner: Option<&Owner>) -> Expect {
        let access = intended_access(route);
        assert_eq!(
            route.access, access,
            "{:?} {} declares another policy than intended",
            route.method, route.path
        );
        let role = match (access, self.user(who)) {
            (Access::Public, _) => return Expect::Any,
            (_, None) => return Expect::Unauthenticated,
            (_, Some(u)) => u.role,
        };
        let role_ok = match access {
            Access::Admin => role == Role::Admin,
            Access::User(None) => true,
            Access::User(Some(Scope::ConnectionsRead)) => true,
            Access::User(Some(Scope::Admin)) => role == Role::Admin,
            Access::Platform(_) => role == Role::Admin,
            Access::User(Some(_)) => role != Role::Viewer,
            Access::Public => true,
        };
        if !role_ok {
            return Expect::Forbidden;
        }
        match owner {
            Some(Owner::OrgA) if who == Who::OtherOrgAdmin => Expect::NotFound,
            Some(Owner::EditorA) if who != Who::Editor => Expect::NotFound,
            Some(Owner::EditorAOrAdmin) if !matches!(who, Who::Editor | Who::Admin) => {
                Expect::NotFound
            }
            _ => Expect::Allowed,
        }
    }

    /// A valid request body for routes that take one, so allowed cells can succeed.
    fn body(&self, route: &RouteInfo, csrf: &str) -> Body {
        let n = self.next();
        match (route.kind, route.method, route.path) {
            (Kind::Api, M::Post, "/api/v1/users") => Body::Json(
                json!({"email": format!("new{n}@a.test"), "role": "viewer", "password": "long-enough-pw"}),
            ),
            (Kind::Api, M::Patch, "/api/v1/users/{id}") => {
                Body::Json(json!({"display_name": "Renamed"}))
            }
            (Kind::Api, M::Post, "/api/v1/connections") => Body::Json(
                json!({"name": format!("c{n}"), "provider": "databricks", "auth": "oauth-u2m"}),
            ),
            (Kind::Api, M::Patch, "/api/v1/connections/{id}") => {
                Body::Json(json!({"name": "Renamed"}))
            }
            (Kind::Api, M::Post, "/api/v1/connections/{id}/queries") => {
                Body::Json(json!({"statement": "SELECT 1", "warehouse_id": "abcdef1234567890"}))
            }
            (Kind::Page, M::Post, "/connections/new") => Body::Form(vec![
                ("name".into(), format!("c{n}")),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Api, M::Put, "/api/v1/users/by-external-id/{external_id}") => {
                Body::Json(json!({"email": format!("put{n}@a.test"), "role": "viewer"}))
            }
            (Kind::Api, M::Post, "/api/v1/service-keys") => {
                Body::Json(json!({"name": "k", "scopes": ["queries:run"]}))
            }
            (Kind::Api, M::Post, "/api/v1/tokens") => {
                Body::Json(json!({"name": "m", "scopes": ["connections:read"]}))
            }
            (Kind::Api, M::Put, "/api/v1/integrations/databricks-oauth-u2m") => Body::Json(
                json!({"host": self.ws.host(), "client_id": self.ws.client_id, "client_secret": self.ws.client_secret}),
            ),
            (Kind::Page, M::Post, "/settings/advanced/integrations/databricks-oauth-u2m") => {
                Body::Form(vec![
                    ("client_id".into(), self.ws.client_id.clone()),
                    ("client_secret".into(), self.ws.client_secret.clone()),
                    ("host".into(), self.ws.host()),
                    ("scopes".into(), "all-apis offline_access".into()),
                    ("csrf_token".into(), csrf.into()),
                ])
            }
            (Kind::Api, _, _) => Body::None,
            (Kind::Page, M::Post, "/settings/users") => Body::Form(vec![
                ("email".into(), format!("page{n}@a.test")),
                ("role".into(), "viewer".into()),
                ("password".into(), "long-enough-pw".into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Page, M::Post, "/settings/users/{id}") => Body::Form(vec![
                ("action".into(), "set-role".into()),
                ("role".into(), "editor".into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Page, M::Post, "/settings/service-keys") => Body::Form(vec![
                ("name".into(), "k".into()),
                ("scope".into(), "queries:run".into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Page, M::Post, "/settings/api-tokens") => Body::Form(vec![
                ("name".into(), "m".into()),
                ("scope".into(), "connections:read".into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Page, _, _) => Body::Form(vec![("csrf_token".into(), csrf.into())]),
        }
    }
}

/// The intended policy of every route, written independently of the code: a route
/// missing here fails the matrix, and so does a route whose declared policy drifts.
fn intended_access(route: &RouteInfo) -> Access {
    use Access::*;
    match (route.method, route.path) {
        (
            M::Get,
            "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json" | "/static/app.css"
            | "/static/app.js" | "/login",
        ) => Public,
        (M::Post, "/login") => Public,
        (
            M::Get,
            "/connections/oauth/databricks/start" | "/connections/oauth/databricks/callback",
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
        (M::Post, "/connections/{id}/settings" | "/connections/{id}/delete") => {
            User(Some(Scope::ConnectionsWrite))
        }
        (M::Post, "/connections/{id}/test") => User(Some(Scope::QueriesRun)),
        (M::Get, "/api/v1/integrations") => Admin,
        (M::Get | M::Put | M::Delete, "/api/v1/integrations/databricks-oauth-u2m") => Admin,
        (M::Get, "/settings/advanced/integrations") => Admin,
        (M::Get | M::Post, "/settings/advanced/integrations/databricks-oauth-u2m") => Admin,
        (M::Post, "/settings/advanced/integrations/databricks-oauth-u2m/delete") => Admin,
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
        (M::Get | M::Post, "/settings/service-keys") => Admin,
        (M::Post, "/settings/service-keys/{id}/revoke") => Admin,
        (M::Get, "/") => User(None),
        (M::Get | M::Post, "/settings/users") => Admin,
        (M::Post, "/settings/users/{id}") => Admin,
        (M::Get | M::Post, "/settings/api-tokens") => User(None),
        (M::Post, "/settings/api-tokens/{id}/revoke") => User(None),
        (M::Get, "/settings/activity") => Admin,
        (m, p) => panic!("{m:?} {p} is not in the route matrix: add its intended policy"),
    }
}

enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    route: &RouteInfo,
    path: &str,
    csrf: Option<&str>,
    body: Body,
) -> reqwest::Response {
    let mut req = client.request(route.method.method(), format!("{base}{path}"));
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Form(f) if route.method != M::Get => req.form(&f),
        Body::Form(_) => req,
    };
    req.sent().await
}

async fn world(db: &TestDb) -> World {
    let ws = Workspace::start().await;
    let app = TestApp::spawn_with(db, Some(&ws)).await;
    let org_a = app.org("org-a").await;
    let org_b = app.org("org-b").await;
    World {
        viewer: app
            .user_with(&org_a, "viewer@a.test", Role::Viewer, false)
            .await,
        editor: app
            .user_with(&org_a, "editor@a.test", Role::Editor, false)
            .await,
        admin: app
            .user_with(&org_a, "admin@a.test", Role::Admin, false)
            .await,
        other_admin: app
            .user_with(&org_b, "admin@b.test", Role::Admin, false)
            .await,
        org_a,
        org_b,
        app,
        ws,
        counter: Default::default(),
        keys: Default::default(),
    }
}

impl World {
    /// The route's path with a fresh fixture for its parameters, and who owns it.
    async fn path_for(&self, route: &RouteInfo) -> (String, Option<(String, Owner)>) {
        let fixture = self.fixture(route).await;
        let path = match &fixture {
            Some((id, _)) if route.path.contains("{id}") => route.path.replace("{id}", id),
            Some((id, _)) if route.path.contains("{external_id}") => {
                route.path.replace("{external_id}", id)
            }
            _ => route.path.to_owned(),
        }
        .replace("{catalog}", "samples")
        .replace("{schema}", "nyctaxi");
        (path, fixture)
    }
}

/// What an allowed cell may answer besides success (2xx, or a page's 303 after a form):
/// the 4xx a route gives when the caller is authorized but the world is not ready for the
/// request (no warehouse sign-in yet, nothing to delete, a fixture without a statement).
/// Never a 5xx.
fn allowed_refusals(route: &RouteInfo) -> &'static [StatusCode] {
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
        // The fixture query's statement was never submitted, and its connection has no
        // credential: following it up needs a sign-in.
        (M::Get, "/api/v1/queries/{id}") | (M::Post, "/api/v1/queries/{id}/cancel") => {
            NEEDS_SIGN_IN
        }
        // Disconnecting without a credential: 409 needs_sign_in (there is nothing to remove).
        (M::Delete, "/api/v1/connections/{id}/credential") => NEEDS_SIGN_IN,
        _ => &[],
    }
}

async fn every_route_enforces_its_policy_for_every_role_and_tenant(db: &TestDb) {
    let world = world(db).await;
    let (_, table) = lakegate::http::router(world.app.state.clone());
    assert!(
        table.len() >= 20,
        "the table holds the whole surface ({} routes)",
        table.len()
    );

    let mut cells = 0;
    for route in &table {
        for who in EVERYONE {
            for via in [Via::Session, Via::Token, Via::ServiceKey] {
                // Pages are for browsers; API routes are checked with sessions, with tokens,
                // and with a service key of the user's org acting for them.
                if via != Via::Session && (route.kind == Kind::Page || who == Who::Anonymous) {
                    continue;
                }
                let via_token = via != Via::Session;
                let (path, fixture) = world.path_for(route).await;
                let mut expect = world.expect(route, who, fixture.as_ref().map(|(_, o)| o));
                let key_refused = matches!(
                    route.access,
                    Access::Admin | Access::User(None) | Access::User(Some(Scope::Admin))
                );
                if via == Via::ServiceKey && key_refused && expect != Expect::Any {
                    // A service key acts for a user only where a route names one of its
                    // scopes: never on their account, never as an admin.
                    expect = Expect::Forbidden;
                }
                if via == Via::ServiceKey && matches!(route.access, Access::Platform(_)) {
                    // On org-level routes the key acts as itself, whoever it names; only
                    // another org's objects stay out of reach.
                    let foreign = who == Who::OtherOrgAdmin
                        && matches!(fixture.as_ref().map(|(_, o)| o), Some(Owner::OrgA));
                    expect = if foreign {
                        Expect::NotFound
                    } else {
                        Expect::Allowed
                    };
                }
                let (client, csrf) = match world.user(who) {
                    None => (anonymous(), String::new()),
                    Some(u) if via == Via::ServiceKey => {
                        let key = world.service_key(&u.org_id).await;
                        let headers = [
                            ("authorization", format!("Bearer {key}")),
                            ("lakegate-user", format!("user:{}", u.id)),
                        ];
                        (with_headers(&headers), String::new())
                    }
                    Some(u) if via_token => {
                        let scopes: Vec<Scope> = Scope::ALL
                            .into_iter()
                            .filter(|s| u.role >= s.min_role())
                            .collect();
                        let (token, _) = world.app.token(u, &scopes).await;
                        (
                            with_headers(&[("authorization", format!("Bearer {token}"))]),
                            String::new(),
                        )
                    }
                    Some(u) => {
                        let Browser { client, csrf, .. } = world.app.session_for(u).await;
                        (client, csrf)
                    }
                };
                let body = world.body(route, &csrf);
                let csrf_header =
                    (!csrf.is_empty() && route.kind == Kind::Api).then_some(csrf.as_str());
                let resp = send(&client, &world.app.base, route, &path, csrf_header, body).await;
                let status = resp.status();
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let cell = format!(
                    "{:?} {} as {who:?} via {via:?} -> {status} {location}",
                    route.method, route.path
                );
                match expect {
                    Expect::Any => {}
                    Expect::Unauthenticated => match route.kind {
                        Kind::Api => assert_eq!(status, StatusCode::UNAUTHORIZED, "{cell}"),
                        Kind::Page => {
                            assert_eq!(status, StatusCode::SEE_OTHER, "{cell}");
                            assert!(location.starts_with("/login?next="), "{cell}");
                        }
                    },
                    Expect::Forbidden => assert_eq!(status, StatusCode::FORBIDDEN, "{cell}"),
                    Expect::NotFound => assert_eq!(status, StatusCode::NOT_FOUND, "{cell}"),
                    Expect::Allowed => {
                        // Authorized: the route's success, or one of its listed refusals.
                        let success = status.is_success()
                            || (route.kind == Kind::Page && status == StatusCode::SEE_OTHER);
                        assert!(
                            success || allowed_refusals(route).contains(&status),
                            "{cell}"
                        );
                        assert!(!location.starts_with("/login?next="), "{cell}");
                    }
                }
                assert!(!status.is_server_error(), "{cell}");
                if expect != Expect::Allowed && expect != Expect::Any {
                    assert!(!status.is_success(), "unauthorized 2xx: {cell}");
                }
                cells += 1;
            }
        }
    }
    eprintln!("route matrix: {} routes, {cells} cells", table.len());
}

/// CSRF, derived from the route table: every state-changing route a session cookie can
/// reach refuses a missing token, a wrong token and a cross-site `Origin` (with the right
/// token), as a caller who would otherwise be allowed, and nothing is changed or audited.
async fn every_cookie_authenticated_state_change_refuses_forged_requests(db: &TestDb) {
    let world = world(db).await;
    let (_, table) = lakegate::http::router(world.app.state.clone());
    let mut checked = 0;
    for route in table
        .iter()
        .filter(|r| r.method != M::Get && r.access != Access::Public)
    {
        let (path, fixture) = world.path_for(route).await;
        let who = match fixture.as_ref().map(|(_, o)| o) {
            Some(Owner::EditorA) => Who::Editor,
            _ => Who::Admin,
        };
        let b = world.app.session_for(world.user(who).unwrap()).await;
        assert_eq!(
            world.expect(route, who, fixture.as_ref().map(|(_, o)| o)),
            Expect::Allowed
        );
        for attack in ["missing token", "wrong token", "cross-site origin"] {
            let token = match attack {
                "missing token" => None,
                "wrong token" => Some("not-the-session-token"),
                _ => Some(b.csrf.as_str()),
            };
            let body = match (world.body(route, token.unwrap_or("")), token) {
                (Body::Form(fields), None) => Body::Form(
                    fields
                        .into_iter()
                        .filter(|(k, _)| k != "csrf_token")
                        .collect(),
                ),
                (body, _) => body,
            };
            let header = token.filter(|_| route.kind == Kind::Api);
            let audit = world.app.count("audit_events").await;
            let mut req = b
                .client
                .request(route.method.method(), format!("{}{path}", world.app.base));
            if let Some(t) = header {
                req = req.header("x-csrf-token", t);
            }
            if attack == "cross-site origin" {
                req = req.header("origin", "https://evil.example");
            }
            req = match body {
                Body::None => req,
                Body::Json(v) => req.json(&v),
                Body::Form(f) => req.form(&f),
            };
            let resp = req.sent().await;
            let cell = format!("{:?} {} with {attack}", route.method, route.path);
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{cell}: {text}");
            if route.kind == Kind::Api {
                let body: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error"]["code"], "csrf_failed", "{cell}");
            }
            assert_eq!(
                world.app.count("audit_events").await,
                audit,
                "{cell}: audited a change"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3 * 20,
        "{checked} forged requests: the table holds the whole surface"
    );
}
