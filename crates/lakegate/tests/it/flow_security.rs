//! The sign-in flow's checks, each against a live flow so the test fails if the check is
//! removed (an unknown state would be refused anyway): repeated parameters, another
//! Lakegate user in the same browser, RFC 9207's `iss`, and redirects that never leave
//! the site (login `next`, sign-in `return_path`).

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{PASSWORD, Sent, TestApp, query_param};
use crate::world::{setup, setup_emulating};

crate::on_each_backend!(
    repeated_parameters_are_refused_on_a_live_flow_which_then_still_works,
    another_lakegate_user_in_the_same_browser_cannot_finish_the_flow,
    a_callback_without_iss_is_refused_when_the_server_advertises_iss,
    a_callback_without_iss_is_accepted_when_the_server_does_not_advertise_it,
    login_next_never_leaves_the_site,
    sign_in_return_path_never_leaves_the_site,
);

/// Redirect targets an attacker would try, raw (the HTTP client encodes them).
const HOSTILE: &[&str] = &[
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example/x",
    "/\tevil",
    "/\r\nSet-Cookie: a=b",
    "/x\u{0}y",
];

/// Local paths that merely look odd: followed as they are, and still on this site.
const ODD_BUT_LOCAL: &[&str] = &[
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/.//evil.example",
];

fn too_long() -> String {
    format!("/{}", "a".repeat(5000))
}

/// `location` resolved against `base` stays on `base`'s origin.
fn stays_on(base: &str, location: &str) -> bool {
    let base = url::Url::parse(base).unwrap();
    base.join(location)
        .is_ok_and(|u| u.origin() == base.origin())
}

async fn repeated_parameters_are_refused_on_a_live_flow_which_then_still_works() {
    let s = setup().await;
    let (b, _, callback) = s.at_callback(true).await;
    let state = query_param(&callback, "state").unwrap();
    for extra in ["&code=attacker-code", &format!("&state={state}"), "&iss=x"] {
        let resp = b.client.get(format!("{callback}{extra}")).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{extra}");
        assert!(
            resp.text().await.unwrap().contains("repeated a parameter"),
            "{extra}"
        );
    }
    assert_eq!(s.token_calls(), 0, "no code was sent anywhere");
    // The flow was live all along: the genuine callback still finishes it.
    let done = b.client.get(&callback).sent().await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        done.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("signin=ok")
    );
    assert_eq!(s.token_calls(), 1);
}

async fn another_lakegate_user_in_the_same_browser_cannot_finish_the_flow() {
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    s.app.user(&s.org, "vi@acme.test", Role::Editor).await;
    let conn = s.connection(&ed, true).await;
    let authorize = s.start(&ed, &conn).await;
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    // A shared computer: ed signs out, vi signs in; the browser keeps the flow's binding cookie.
    let out = ed
        .client
        .post(ed.url("/logout"))
        .form(&[("csrf_token", ed.csrf.as_str())])
        .sent()
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    s.app
        .log_in(&ed.client, &s.org, "vi@acme.test", PASSWORD)
        .await
        .unwrap();
    let resp = ed.client.get(&callback).sent().await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("by another user"));
    assert_eq!(s.token_calls(), 0);
    for email in ["ed@acme.test", "vi@acme.test"] {
        let user = s.app.find_user(&s.org.id, email).await;
        let cred = s.app.store.credential(&conn, &user.id).await.unwrap();
        assert!(cred.is_none(), "{email} got alice's tokens");
    }
}

/// The callback URL without its `iss` parameter (as a mix-up attack would deliver it).
fn without_iss(callback: &str) -> String {
    let mut url = url::Url::parse(callback).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    url.to_string()
}

async fn a_callback_without_iss_is_refused_when_the_server_advertises_iss() {
    let s = setup().await;
    let (b, conn, callback) = s.at_callback(true).await;
    assert!(
        callback.contains("iss="),
        "the emulator sends iss: {callback}"
    );
    let resp = b.client.get(without_iss(&callback)).sent().await;
    assert_eq!(
        resp.headers()["location"],
        format!("/connections/{conn}?signin=issuer_mismatch")
    );
    assert_eq!(s.token_calls(), 0);
}

async fn a_callback_without_iss_is_accepted_when_the_server_does_not_advertise_it() {
    let s = setup_emulating(warehouse_emulator::EmulatorConfig {
        authorization_response_iss: false,
        ..warehouse_emulator::EmulatorConfig::for_tests()
    })
    .await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    let landed = s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    assert_eq!(landed, format!("/connections/{conn}?signin=ok"));
}

async fn login_next_never_leaves_the_site() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Editor).await;
    let long = too_long();
    let cases = HOSTILE
        .iter()
        .map(|n| (*n, "/"))
        .chain(ODD_BUT_LOCAL.iter().map(|n| (*n, *n)))
        .chain([
            (long.as_str(), "/"),
            ("/connections?x=1", "/connections?x=1"),
        ]);
    for (next, expected) in cases {
        let client = crate::harness::http_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(app.url("/login"))
            .sent()
            .await
            .text()
            .await
            .unwrap();
        let csrf = crate::harness::hidden_field(&page, "csrf_token");
        let resp = client
            .post(app.url("/login"))
            .form(&[
                ("org", "acme"),
                ("email", "a@acme.test"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
                ("next", next),
            ])
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next:?}");
        let location = resp.headers()["location"].to_str().unwrap();
        assert_eq!(location, expected, "{next:?}");
        assert!(stays_on(&app.base, location), "{next:?} -> {location}");
        // The login page carries `next` into its form only in the safe form.
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let page = client
            .get(app.url(&format!("/login?next={encoded}")))
            .sent()
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !page.contains("evil.example") || ODD_BUT_LOCAL.contains(&next),
            "{next:?}"
        );
    }
}

async fn sign_in_return_path_never_leaves_the_site() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    let link = |return_path: &str| {
        b.client
            .post(b.url(&format!("/api/v1/connections/{conn}/sign-in")))
            .header("x-csrf-token", &b.csrf)
            .json(&json!({ "return_path": return_path }))
    };
    let long = too_long();
    for hostile in HOSTILE.iter().copied().chain([long.as_str()]) {
        let resp = link(hostile).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{hostile:?}");
    }
    assert_eq!(
        s.app.count("sign_in_tickets").await,
        0,
        "no ticket for a refused path"
    );

    // An odd but local path is kept as it is, and the finished sign-in lands there.
    let odd = ODD_BUT_LOCAL[0];
    let sign_in: serde_json::Value = link(odd).sent().await.json().await.unwrap();
    let resp = b
        .client
        .get(sign_in["sign_in_url"].as_str().unwrap())
        .sent()
        .await;
    let authorize = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let done = b.client.get(&callback).sent().await;
    let location = done.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{odd}?signin=ok"));
    assert!(stays_on(&s.app.base, location));
}
