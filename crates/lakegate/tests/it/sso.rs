//! Single sign-on against a real OpenID provider (oidc-provider in Node, over HTTPS):
//! people sign in through it and are matched by subject or created with the org's default
//! role; ID tokens with a wrong audience, a missing or replayed nonce, an expiry in the past,
//! a foreign signature or issuer, and emails outside the allowed domains sign nobody in.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Browser, PASSWORD, START, Sent, TestApp, TestDb, cookie_browser, query_param,
};
use crate::idp::{self, CLIENT_ID, CLIENT_SECRET, Idp};

crate::on_each_backend!(
    people_sign_in_through_the_provider_and_are_created_with_the_default_role,
    an_existing_person_is_matched_by_email_once_then_by_subject_and_disabled_stays_out,
    id_tokens_the_client_must_not_trust_sign_nobody_in,
    emails_outside_the_allowed_domains_or_unverified_sign_nobody_in,
    the_callback_is_single_use_and_bound_to_its_browser,
    password_sign_in_can_be_turned_off_and_the_secret_never_shows,
    admins_configure_it_on_the_settings_page,
);

struct World {
    app: TestApp,
    org: lakegate::accounts::Org,
    idp: Idp,
    admin: Browser,
    _db: TestDb,
}

/// Org `acme` with SSO through a fresh provider for `acme.test` (new people: editors).
async fn world() -> Option<World> {
    if !idp::available() {
        return None;
    }
    let db = TestDb::current().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let idp = Idp::start(&format!("{base}/login/sso/callback")).await;
    let app = TestApp::spawn_on(&db, listener, idp.egress()).await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, true)
        .await;
    let admin = app.session_for(&admin).await;
    let w = World {
        app,
        org,
        idp,
        admin,
        _db: db,
    };
    let (status, body) = w.configure(json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Some(w)
}

impl World {
    async fn configure(&self, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"issuer": self.idp.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "allowed_domains": ["acme.test"], "default_role": "editor"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let resp = self
            .admin
            .client
            .put(self.admin.url("/api/v1/sso"))
            .header("x-csrf-token", &self.admin.csrf)
            .json(&body)
            .sent()
            .await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Starts a sign-in in `browser`: the provider's authorization URL.
    async fn start(&self, browser: &reqwest::Client) -> String {
        let resp = browser
            .get(self.app.url("/login/sso?org=acme&next=/connections"))
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A whole sign-in as `login` in a new browser: the callback's status and the browser.
    async fn sign_in(&self, login: &str) -> (StatusCode, reqwest::Client, reqwest::Response) {
        let browser = cookie_browser();
        let authorize = self.start(&browser).await;
        let callback = self.idp.sign_in(&authorize, login).await;
        let resp = browser.get(&callback).sent().await;
        (resp.status(), browser, resp)
    }

    async fn me(&self, browser: &reqwest::Client) -> (StatusCode, Value) {
        let resp = browser.get(self.app.url("/api/v1/me")).sent().await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    /// The reason of the last refused SSO sign-in in the audit log.
    async fn last_refusal(&self) -> String {
        let log = self
            .admin
            .get_json("/api/v1/audit?action=auth.sso_login")
            .await;
        let last = log["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["outcome"] == "failure")
            .cloned()
            .unwrap_or(Value::Null);
        last["details"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn people_sign_in_through_the_provider_and_are_created_with_the_default_role() {
    let Some(w) = world().await else { return };
    let browser = cookie_browser();
    let authorize = w.start(&browser).await;
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("code_challenge_method", "S256"),
        ("scope", "openid email profile"),
    ] {
        assert_eq!(
            query_param(&authorize, name).as_deref(),
            Some(value),
            "{name}"
        );
    }
    assert!(query_param(&authorize, "nonce").is_some_and(|n| n.len() >= 43));
    let callback = w.idp.sign_in(&authorize, "ana@acme.test").await;
    let resp = browser.get(&callback).sent().await;
    let logs = crate::harness::captured_logs();
    let sso_lines: Vec<&str> = logs.lines().filter(|l| l.contains("SSO sign-in")).collect();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{sso_lines:?}");
    assert_eq!(resp.headers()["location"], "/connections");
    let (status, me) = w.me(&browser).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "ana@acme.test", "{me}");
    assert_eq!(me["user"]["role"], "editor");

    // The same person again is the same user (matched by subject), not a new one.
    let users = w.app.count("users").await;
    let (status, again, _) = w.sign_in("ana@acme.test").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(w.me(&again).await.1["user"]["id"], me["user"]["id"]);
    assert_eq!(w.app.count("users").await, users);
    let log = w
        .admin
        .get_json("/api/v1/audit?action=auth.sso_login")
        .await;
    assert_eq!(log["events"][0]["outcome"], "success");
}

async fn an_existing_person_is_matched_by_email_once_then_by_subject_and_disabled_stays_out() {
    let Some(w) = world().await else { return };
    let bo = w
        .app
        .user_with(&w.org, "bo@acme.test", Role::Viewer, true)
        .await;
    let (status, browser, _) = w.sign_in("bo@acme.test").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let me = w.me(&browser).await.1;
    assert_eq!(me["user"]["id"], bo.id.as_str());
    assert_eq!(me["user"]["role"], "viewer", "an existing role is kept");

    // Tied now: another subject claiming the same email is someone else, and stays out.
    let browser = cookie_browser();
    let authorize = w.start(&browser).await;
    let callback = w.idp.sign_in(&authorize, "bo@acme.test").await;
    w.idp
        .tamper_next_id_token(json!({"sub": "a-different-subject"}))
        .await;
    let resp = browser.get(&callback).sent().await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(w.me(&browser).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(w.last_refusal().await, "subject_conflict");

    let resp = w
        .admin
        .client
        .patch(w.admin.url(&format!("/api/v1/users/{}", bo.id)))
        .header("x-csrf-token", &w.admin.csrf)
        .json(&json!({"disabled": true}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, browser, _) = w.sign_in("bo@acme.test").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.me(&browser).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(w.last_refusal().await, "disabled");
}

async fn id_tokens_the_client_must_not_trust_sign_nobody_in() {
    let Some(w) = world().await else { return };
    let users = w.app.count("users").await;
    let cases = [
        (json!({"aud": "another-client"}), "audience"),
        (json!({"aud": ["another-client", CLIENT_ID]}), "audience"),
        (json!({"nonce": null}), "missing_nonce"),
        // The nonce of another sign-in, as a replayed ID token carries.
        (json!({"nonce": "the-nonce-of-an-earlier-sign-in"}), "nonce"),
        (json!({"exp": START - 3600, "iat": START - 7200}), "expired"),
        (json!({"iss": "https://evil.example"}), "issuer"),
        (json!({"foreign_key": true}), "signature"),
    ];
    for (patch, reason) in cases {
        let browser = cookie_browser();
        let authorize = w.start(&browser).await;
        let callback = w.idp.sign_in(&authorize, "mallory@acme.test").await;
        w.idp.tamper_next_id_token(patch.clone()).await;
        let resp = browser.get(&callback).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{patch}");
        assert_eq!(w.me(&browser).await.0, StatusCode::UNAUTHORIZED, "{patch}");
        assert_eq!(w.last_refusal().await, reason, "{patch}");
    }
    assert_eq!(w.app.count("users").await, users, "nobody was created");
}

async fn emails_outside_the_allowed_domains_or_unverified_sign_nobody_in() {
    let Some(w) = world().await else { return };
    let users = w.app.count("users").await;
    for (login, status, reason) in [
        ("eve@evil.test", StatusCode::FORBIDDEN, "domain"),
        ("eve@acme.test.evil.test", StatusCode::FORBIDDEN, "domain"),
        ("unverified@acme.test", StatusCode::BAD_REQUEST, "email"),
    ] {
        let (got, browser, _) = w.sign_in(login).await;
        assert_eq!(got, status, "{login}");
        assert_eq!(w.me(&browser).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(w.last_refusal().await, reason, "{login}");
    }
    assert_eq!(w.app.count("users").await, users);
}

async fn the_callback_is_single_use_and_bound_to_its_browser() {
    let Some(w) = world().await else { return };
    // Finished in another browser: refused, and the flow is spent.
    let authorize = w.start(&cookie_browser()).await;
    let callback = w.idp.sign_in(&authorize, "ana@acme.test").await;
    let other = cookie_browser();
    assert_eq!(
        other.get(&callback).sent().await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(w.me(&other).await.0, StatusCode::UNAUTHORIZED);

    // Replayed after a success: refused.
    let browser = cookie_browser();
    let authorize = w.start(&browser).await;
    let callback = w.idp.sign_in(&authorize, "ana@acme.test").await;
    assert_eq!(
        browser.get(&callback).sent().await.status(),
        StatusCode::SEE_OTHER
    );
    let replay = cookie_browser();
    assert_eq!(
        replay.get(&callback).sent().await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser.get(&callback).sent().await.status(),
        StatusCode::BAD_REQUEST
    );

    // Unconfigured orgs have no SSO.
    let resp = cookie_browser()
        .get(w.app.url("/login/sso?org=nobody"))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

async fn password_sign_in_can_be_turned_off_and_the_secret_never_shows() {
    let Some(w) = world().await else { return };
    let org = &w.org;
    let before = w
        .app
        .log_in(&cookie_browser(), org, "admin@acme.test", PASSWORD)
        .await;
    assert!(
        before.is_ok(),
        "password sign-in works until it is turned off"
    );
    let (status, shown) = w.configure(json!({"password_sign_in": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["password_sign_in"], false);
    assert_eq!(shown["client_secret_set"], true);
    let fetched = w.admin.get_json("/api/v1/sso").await;
    assert!(!fetched.to_string().contains(CLIENT_SECRET));
    assert!(
        fetched["redirect_url"]
            .as_str()
            .unwrap()
            .ends_with("/login/sso/callback")
    );

    let refused = w
        .app
        .log_in(&cookie_browser(), org, "admin@acme.test", PASSWORD)
        .await;
    assert_eq!(refused, Err(StatusCode::FORBIDDEN));
    let (status, _, _) = w.sign_in("ana@acme.test").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "single sign-on still works");

    // A provider Lakegate may not reach is refused when saved, and nothing changes.
    let (status, body) = w
        .configure(json!({"issuer": "https://idp.example.com", "password_sign_in": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        w.admin.get_json("/api/v1/sso").await["password_sign_in"],
        false
    );
}

async fn admins_configure_it_on_the_settings_page() {
    let Some(w) = world().await else { return };
    let form = |secret: &str| {
        vec![
            ("csrf_token", w.admin.csrf.clone()),
            ("issuer", w.idp.issuer.clone()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("allowed_domains", "acme.test, Acme.Example".to_owned()),
            ("default_role", "viewer".to_owned()),
        ]
    };
    // The stored secret is kept when the field is left empty; unchecked, passwords are off.
    let resp = w
        .admin
        .client
        .post(w.admin.url("/settings/advanced/access/sso"))
        .form(&form(""))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = w.admin.page("/settings/advanced/access").await;
    assert!(page.contains(&w.idp.issuer) && page.contains("acme.test, acme.example"));
    assert!(
        page.contains("/login/sso/callback"),
        "the redirect URL to register"
    );
    assert!(!page.contains(CLIENT_SECRET), "the secret is never shown");
    let shown = w.admin.get_json("/api/v1/sso").await;
    assert_eq!(shown["password_sign_in"], false);
    assert_eq!(shown["default_role"], "viewer");
    let (status, _, _) = w.sign_in("new@acme.example").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the secret kept still works");

    // A refused save re-renders the form with the reason, and changes nothing.
    let mut bad = form("");
    bad[1].1 = "https://idp.example.com".into();
    let resp = w
        .admin
        .client
        .post(w.admin.url("/settings/advanced/access/sso"))
        .form(&bad)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("idp.example.com"));
    assert_eq!(
        w.admin.get_json("/api/v1/sso").await["issuer"],
        w.idp.issuer.as_str()
    );

    // Origins are saved from the same page, one per line.
    let resp = w
        .admin
        .client
        .post(w.admin.url("/settings/advanced/access/origins"))
        .form(&[
            ("csrf_token", w.admin.csrf.as_str()),
            ("origins", "https://app.example.com\nhttp://localhost:3000/"),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let org = w.admin.get_json("/api/v1/org").await;
    assert_eq!(
        org["allowed_return_origins"],
        json!(["https://app.example.com", "http://localhost:3000"])
    );
}
