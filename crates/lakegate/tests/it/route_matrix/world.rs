//! The matrix's world: two orgs with a viewer, an editor and admins, a fixture for every
//! path parameter, a valid body for every route, and the intended policy of every route,
//! written independently of the code.

use lakegate::accounts::{Org, Role, User};
use lakegate::auth::{Access, Scope};
use lakegate::http::{Kind, M, RouteInfo};
use serde_json::json;

use super::policy::intended_access;
use crate::harness::{Sent, TestApp, TestDb, Workspace};

/// The origin every org of the matrix allows connect sessions to return to.
const RETURN_ORIGIN: &str = "https://app.example.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    Anonymous,
    Viewer,
    Editor,
    Admin,
    OtherOrgAdmin,
}

pub(super) const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Editor,
    Who::Admin,
    Who::OtherOrgAdmin,
];

/// How a cell's caller authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Session,
    Token,
    ServiceKey,
}

/// A client sending these headers on every request.
pub(super) fn with_headers(headers: &[(&'static str, String)]) -> reqwest::Client {
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
pub(super) enum Expect {
    /// Public routes: no access rule to check.
    Any,
    Unauthenticated,
    Forbidden,
    NotFound,
    Allowed,
}

pub(super) struct World {
    pub(super) ws: Workspace,
    pub(super) app: TestApp,
    pub(super) org_a: Org,
    pub(super) org_b: Org,
    pub(super) viewer: User,
    pub(super) editor: User,
    pub(super) admin: User,
    pub(super) other_admin: User,
    pub(super) counter: std::sync::atomic::AtomicUsize,
    /// One service key per org, with every scope a key may hold.
    pub(super) keys: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Whose objects a path parameter names.
pub(super) enum Owner {
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
    pub(super) fn user(&self, who: Who) -> Option<&User> {
        match who {
            Who::Anonymous => None,
            Who::Viewer => Some(&self.viewer),
            Who::Editor => Some(&self.editor),
            Who::Admin => Some(&self.admin),
            Who::OtherOrgAdmin => Some(&self.other_admin),
        }
    }

    pub(super) fn next(&self) -> usize {
        self.counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// The org's service key (made once).
    pub(super) async fn service_key(&self, org_id: &str) -> String {
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
    pub(super) async fn configure_org_a(&self) {
        self.configure(&self.org_a.id).await;
    }

    pub(super) async fn configure(&self, org_id: &str) {
        let input = lakegate::integrations::SaveInput {
            host: self.ws.host(),
            client_id: self.ws.client_id.clone(),
            client_secret: Some(lakegate::secret::Secret::new(self.ws.client_secret.clone())),
            scopes: None,
            lifetimes: None,
            default_compute: None,
        };
        self.app.save_integration(org_id, input).await.unwrap();
    }

    /// The end user `matrix-end-user` of `org` (an editor), and its allowed return origin.
    async fn end_user(&self, org: &Org) {
        let actor = lakegate::audit::Actor::cli(Some(org.id.clone()));
        let accounts = &self.app.state.services.accounts;
        let input = lakegate::accounts::service::ExternalUser {
            email: Some(format!("end-user@{}.test", org.slug)),
            display_name: None,
            role: None,
        };
        accounts
            .upsert_external(&actor, org, "matrix-end-user", input)
            .await
            .unwrap();
        accounts
            .set_return_origins(&actor, org, &[RETURN_ORIGIN.to_owned()])
            .await
            .unwrap();
    }

    /// A fresh private connection owned by the editor of org A.
    pub(super) async fn private_connection(&self) -> String {
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
            .create(
                &p,
                &actor,
                crate::harness::databricks(),
                "Private",
                false,
                None,
            )
            .await
            .unwrap()
            .id
    }

    /// A fresh object for the route's `{id}` (requests may delete it), and who owns it.
    pub(super) async fn fixture(&self, route: &RouteInfo) -> Option<(String, Owner)> {
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
        if (route.method, path) == (M::Post, "/api/v1/connect-sessions") {
            // Each org knows an end user by the same external id, and allows one origin.
            for org in [&self.org_a, &self.org_b] {
                self.end_user(org).await;
            }
        }
        if matches!(
            (route.method, path),
            (
                M::Post,
                "/api/v1/connections" | "/connections/new" | "/api/v1/connect-sessions"
            )
        ) {
            // Every org's members can make connections once their org is configured.
            self.configure(&self.org_a.id).await;
            self.configure(&self.org_b.id).await;
        }
        if matches!(
            path,
            "/api/v1/sso"
                | "/settings/advanced/access/sso"
                | "/settings/advanced/access/sso/delete"
        ) {
            // Org A has a provider to show or delete (the matrix reaches no real one: saving
            // is refused as unreachable); the other org has none, so its admin gets 404.
            let row = lakegate::store::SsoRow {
                org_id: self.org_a.id.clone(),
                issuer: "https://idp.example.com".into(),
                client_id: "matrix".into(),
                client_secret_enc: vec![0],
                authorization_endpoint: "https://idp.example.com/auth".into(),
                token_endpoint: "https://idp.example.com/token".into(),
                jwks_uri: "https://idp.example.com/jwks".into(),
                allowed_domains: "a.test".into(),
                default_role: "viewer".into(),
                password_sign_in: 1,
                updated_at: 0,
                updated_by: "matrix".into(),
            };
            self.app.store.put_sso(&row).await.unwrap();
            let owner = if route.method == M::Put || path == "/settings/advanced/access/sso" {
                Owner::Nobody
            } else {
                Owner::OrgA
            };
            return Some((String::new(), owner));
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
                    email: Some(format!("ext{n}@a.test")),
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
            p if p.starts_with("/api/v1/webhooks/{id}")
                || p.starts_with("/settings/advanced/webhooks/{id}") =>
            {
                Some((self.webhook(p.contains("{message_id}")).await, Owner::OrgA))
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
                            "/connections/{id}/settings"
                                | "/connections/{id}/delete"
                                | "/connections/{id}/secret"
                                | "/connections/{id}/vending"
                                | "/connections/{id}/fallback"
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
                    ran_as_connection_id: None,
                    ran_as_user_id: None,
                };
                self.app.store.insert_query(&row).await.unwrap();
                // Queries are private to the user who ran them, admins included.
                Some((id, Owner::EditorA))
            }
            "/api/v1/integrations/databricks-oauth-u2m/hosts/{host}" => {
                // A workspace nobody added: each org has its own list.
                Some(("localhost:1".into(), Owner::Nobody))
            }
            other => {
                panic!("route {other} has a path parameter the matrix has no fixture for: add one")
            }
        }
    }

    pub(super) fn expect(&self, route: &RouteInfo, who: Who, owner: Option<&Owner>) -> Expect {
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
    pub(super) fn body(&self, route: &RouteInfo, csrf: &str) -> Body {
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
            (Kind::Api, M::Post, "/api/v1/integrations/databricks-oauth-u2m/hosts") => {
                Body::Json(json!({"host": "localhost:1"}))
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
            (Kind::Api, M::Post, "/api/v1/connect-sessions") => Body::Json(json!({
                "external_user_id": "matrix-end-user",
                "connection": {"name": format!("c{n}"), "provider": "databricks", "auth": "oauth-u2m"},
                "return_url": format!("{RETURN_ORIGIN}/back"),
            })),
            (Kind::Api, M::Put, "/api/v1/sso") => Body::Json(json!({
                "issuer": "https://idp.example.com", "client_id": "c", "client_secret": "s",
                "allowed_domains": ["a.test"],
            })),
            (Kind::Api, M::Patch, "/api/v1/org") => {
                Body::Json(json!({"allowed_return_origins": [RETURN_ORIGIN]}))
            }
            (Kind::Api, M::Post, "/api/v1/webhooks") => Body::Json(
                json!({"url": "https://hooks.example.com/x", "events": ["connection.created"]}),
            ),
            (Kind::Api, M::Patch, "/api/v1/webhooks/{id}") => Body::Json(json!({"enabled": false})),
            (Kind::Page, M::Post, "/settings/advanced/webhooks") => Body::Form(vec![
                ("url".into(), "https://hooks.example.com/x".into()),
                ("events".into(), "connection.created".into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Api, M::Post, "/api/v1/service-keys") => {
                Body::Json(json!({"name": "k", "scopes": ["queries:run"]}))
            }
            (Kind::Api, M::Post, "/api/v1/tokens") => {
                Body::Json(json!({"name": "m", "scopes": ["connections:read"]}))
            }
            (Kind::Api, M::Put, "/api/v1/integrations/bigquery-oauth") => {
                Body::Json(json!({"client_id": "c", "client_secret": "s"}))
            }
            (Kind::Page, M::Post, "/settings/advanced/integrations/bigquery-oauth") => {
                Body::Form(vec![
                    ("client_id".into(), "c".into()),
                    ("client_secret".into(), "s".into()),
                    ("csrf_token".into(), csrf.into()),
                ])
            }
            (Kind::Api, M::Put, "/api/v1/integrations/snowflake-oauth") => {
                Body::Json(json!({"host": self.ws.host(), "client_id": "c", "client_secret": "s"}))
            }
            (Kind::Page, M::Post, "/settings/advanced/integrations/snowflake-oauth") => {
                Body::Form(vec![
                    ("host".into(), self.ws.host()),
                    ("client_id".into(), "c".into()),
                    ("client_secret".into(), "s".into()),
                    ("csrf_token".into(), csrf.into()),
                ])
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
            (Kind::Page, M::Post, "/settings/advanced/access/origins") => Body::Form(vec![
                ("origins".into(), RETURN_ORIGIN.into()),
                ("csrf_token".into(), csrf.into()),
            ]),
            (Kind::Page, M::Post, "/settings/advanced/access/sso") => Body::Form(vec![
                ("issuer".into(), "https://idp.example.com".into()),
                ("client_id".into(), "c".into()),
                ("client_secret".into(), "s".into()),
                ("allowed_domains".into(), "a.test".into()),
                ("default_role".into(), "viewer".into()),
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

pub(super) enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

pub(super) async fn send(
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

pub(super) async fn world(db: &TestDb) -> World {
    let mut ws = Workspace::start().await;
    let app = TestApp::spawn_with(db, Some(&ws)).await;
    ws.register_for(&app);
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
    pub(super) async fn path_for(&self, route: &RouteInfo) -> (String, Option<(String, Owner)>) {
        let fixture = self.fixture(route).await;
        let path = match &fixture {
            Some((id, _)) if route.path.contains("{id}") => route.path.replace("{id}", id),
            Some((id, _)) if route.path.contains("{external_id}") => {
                route.path.replace("{external_id}", id)
            }
            Some((host, _)) if route.path.contains("{host}") => route.path.replace("{host}", host),
            _ => route.path.to_owned(),
        }
        .replace("{catalog}", "samples")
        .replace("{schema}", "nyctaxi");
        // A webhook fixture's one failed delivery is named after it.
        let path = match &fixture {
            Some((id, _)) => path.replace("{message_id}", &format!("msg_{id}")),
            None => path,
        };
        (path, fixture)
    }
}
