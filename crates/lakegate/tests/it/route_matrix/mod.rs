//! Every route of the router's own table × {anonymous, viewer, editor, admin, admin of
//! another org}: no cell answers an unauthorized 2xx; objects of another org or user are
//! 404; allowed cells really succeed. A route with a path parameter the matrix has no
//! fixture for fails the test, so no route can be added without being in it.

mod policy;
mod webhook_fixture;
mod world;

use lakegate::auth::{Access, Scope};
use lakegate::http::{Kind, M};
use reqwest::StatusCode;

use crate::harness::{Browser, Sent, TestDb, anonymous};
use policy::allowed_refusals;
use world::{Body, EVERYONE, Expect, Owner, Via, Who, send, with_headers, world};

crate::on_both_backends!(
    every_route_enforces_its_policy_for_every_role_and_tenant,
    every_cookie_authenticated_state_change_refuses_forged_requests,
);

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
