//! Snowflake OAuth (custom security integration): the checks `/oauth/authorize` makes before
//! login and after it, the consent page naming the role, and `/oauth/token-request` with
//! Basic over the raw id and secret, opaque ten-minute tokens, refresh tokens only with the
//! `refresh_token` scope, absolute validity, single-use rotation and Snowflake's errors.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::engine::authz::s256;
use warehouse_emulator::{Emulator, EmulatorConfig, EmulatorHandle, SnowflakeIntegrationConfig};

use crate::harness::{Sent, VERIFIER, client, field};

const REDIRECT: &str = "https://lakegate.example/connections/oauth/snowflake/callback";
/// Base64 with `+ / =`, as Snowflake issues them.
const CLIENT_ID: &str = "aB+c/dEf=";
const SECRET: &str = "s3+cr/et==";

pub(crate) struct Account {
    pub(crate) emu: EmulatorHandle,
    pub(crate) http: reqwest::Client,
}

pub(crate) async fn account(single_use: bool) -> Account {
    account_on(EmulatorConfig::for_tests(), single_use).await
}

pub(crate) async fn account_on(config: EmulatorConfig, single_use: bool) -> Account {
    let emu = Emulator::start(config).await.unwrap();
    emu.register_snowflake_integration(SnowflakeIntegrationConfig {
        name: "LAKEGATE".into(),
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uri: REDIRECT.into(),
        refresh_token_validity_seconds: 86_400,
        single_use_refresh_tokens: single_use,
        pre_authorized_roles: vec![],
        blocked_roles: vec![],
    });
    Account {
        emu,
        http: client(),
    }
}

impl Account {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url, path)
    }

    pub(crate) fn authorize(&self, params: &[(&str, &str)]) -> String {
        let challenge = s256(VERIFIER);
        let mut all: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("state", "st"),
            ("scope", "refresh_token"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in params {
            all.retain(|(name, _)| name != k);
            if !v.is_empty() {
                all.push((k, v));
            }
        }
        self.url(&format!(
            "/oauth/authorize?{}",
            serde_urlencoded::to_string(all).unwrap()
        ))
    }

    /// The error code shown for `url`, with no redirect.
    async fn refused(&self, url: &str) -> String {
        let resp = self.http.get(url).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.unwrap();
        page.split("<code id=\"code\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    }

    /// Logs in as `email` and answers the consent page (if shown): the final redirect, or
    /// the refusal page's code.
    pub(crate) async fn sign_in(
        &self,
        url: &str,
        email: &str,
        password: &str,
        allow: bool,
    ) -> Result<String, String> {
        let page = self.http.get(url).sent().await.text().await.unwrap();
        let request = field(&page, "request");
        let resp = self
            .http
            .post(self.url("/oauth/authorize/login"))
            .form(&[
                ("request", request.as_str()),
                ("email", email),
                ("password", password),
            ])
            .sent()
            .await;
        if let Some(loc) = resp.headers().get("location") {
            return Ok(loc.to_str().unwrap().to_owned());
        }
        let status = resp.status();
        let page = resp.text().await.unwrap();
        if status != StatusCode::OK {
            return Err(page
                .split("<code id=\"code\">")
                .nth(1)
                .map_or(status.to_string(), |c| {
                    c.split('<').next().unwrap().to_owned()
                }));
        }
        assert!(
            page.contains("id=\"role\""),
            "the consent page names the role"
        );
        let decision = if allow { "allow" } else { "deny" };
        let done = self
            .http
            .post(self.url("/oauth/authorize/consent"))
            .form(&[("request", request.as_str()), ("decision", decision)])
            .sent()
            .await;
        Ok(done.headers()["location"].to_str().unwrap().to_owned())
    }

    async fn token(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url("/oauth/token-request")).form(form);
        if let Some((id, secret)) = basic {
            let raw = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            req = req.header("authorization", format!("Basic {raw}"));
        }
        let resp = req.sent().await;
        (resp.status(), resp.json().await.unwrap())
    }

    async fn refresh(&self, rt: &str) -> (StatusCode, Value) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
        self.token(Some((CLIENT_ID, SECRET)), &form).await
    }

    pub(crate) async fn exchange(&self, callback: &str) -> (StatusCode, Value) {
        let code = query(callback, "code").unwrap();
        self.token(
            Some((CLIENT_ID, SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

pub(crate) fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn authorize_checks_its_parameters_before_login_with_snowflakes_codes() {
    let a = account(false).await;
    let long_state = "s".repeat(2049);
    for (params, code) in [
        (vec![("response_type", "token")], "390304"),
        (vec![("state", long_state.as_str())], "390305"),
        (vec![("client_id", "unknown")], "390306"),
        (vec![("client_id", "aB c/dEf=")], "390306"),
        (
            vec![("redirect_uri", "https://lakegate.example/other")],
            "390307",
        ),
        (vec![("scope", "refresh_token offline_access")], "390308"),
        (vec![("scope", "session:role:A session:role:B")], "390308"),
        (vec![("scope", "bogus")], "390308"),
        (vec![("code_challenge_method", "plain")], "390311"),
        (vec![("code_challenge", "")], "390311"),
    ] {
        assert_eq!(a.refused(&a.authorize(&params)).await, code, "{params:?}");
    }
    // The registered URI matches after the request's query is removed.
    let with_query = format!("{REDIRECT}?tenant=a");
    let url = a.authorize(&[("redirect_uri", &with_query)]);
    let landed = a
        .sign_in(&url, "alice@example.com", "alice", true)
        .await
        .unwrap();
    assert!(
        landed.starts_with(&format!("{REDIRECT}?tenant=a&code=")),
        "{landed}"
    );
    assert_eq!(query(&landed, "state").as_deref(), Some("st"));
    assert_eq!(query(&landed, "scope").as_deref(), Some("refresh_token"));
}

#[tokio::test]
async fn the_role_is_checked_after_login_and_named_on_the_consent_page() {
    let a = account(false).await;
    // bob does not hold ANALYST; nobody may consent to ACCOUNTADMIN.
    let analyst = a.authorize(&[("scope", "refresh_token session:role:ANALYST")]);
    assert_eq!(
        a.sign_in(&analyst, "bob@example.com", "bob", true).await,
        Err("390302".into())
    );
    let admin = a.authorize(&[("scope", "session:role:ACCOUNTADMIN")]);
    assert_eq!(
        a.sign_in(&admin, "alice@example.com", "alice", true).await,
        Err("390302".into())
    );
    // An encoded role name is decoded; case matters.
    let lower = a.authorize(&[("scope", "session:role-encoded:analyst")]);
    assert_eq!(
        a.sign_in(&lower, "alice@example.com", "alice", true).await,
        Err("390302".into())
    );
    let ok = a.authorize(&[("scope", "refresh_token session:role-encoded:ANALYST")]);
    assert!(
        a.sign_in(&ok, "alice@example.com", "alice", true)
            .await
            .is_ok()
    );
    // Denied: access_denied back at the redirect URI.
    let denied = a
        .sign_in(&a.authorize(&[]), "alice@example.com", "alice", false)
        .await
        .unwrap();
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert!(query(&denied, "code").is_none());
}

#[tokio::test]
async fn the_token_endpoint_takes_basic_over_the_raw_id_and_secret_only() {
    let a = account(false).await;
    let landed = a
        .sign_in(&a.authorize(&[]), "alice@example.com", "alice", true)
        .await
        .unwrap();
    let code = query(&landed, "code").unwrap();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // Form-encoded Basic (RFC 6749 §2.3.1) is other bytes: an invalid client.
    let encoded: String = url::form_urlencoded::byte_serialize(CLIENT_ID.as_bytes()).collect();
    let enc_secret: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let (status, body) = a.token(Some((&encoded, &enc_secret)), &grant).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        serde_json::json!({"data": null, "message": "This is an invalid client.", "code": null, "success": false, "error": "invalid_client"})
    );
    let mut with_body = grant.to_vec();
    with_body.extend([("client_id", CLIENT_ID), ("client_secret", SECRET)]);
    assert_eq!(
        a.token(None, &with_body).await.1["error"],
        "invalid_request"
    );
    // A failed redemption above did not spend the code (the client was not authenticated).
    let (status, set) = a.token(Some((CLIENT_ID, SECRET)), &grant).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["token_type"], "Bearer");
    assert_eq!(set["expires_in"], 600);
    assert_eq!(set["username"], "ALICE");
    assert!(set["refresh_token"].is_string());
    assert!(
        set["access_token"].as_str().unwrap().matches('.').count() < 2,
        "opaque, not a JWT"
    );
    // Refresh: no refresh token comes back without rotation (keep the one you have), and
    // no username.
    let rt = set["refresh_token"].as_str().unwrap();
    let (status, again) = a.refresh(rt).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.get("username").is_none());
    assert!(again.get("refresh_token").is_none(), "{again}");
}

#[tokio::test]
async fn refresh_tokens_need_the_scope_and_die_a_fixed_time_after_sign_in() {
    let a = account(false).await;
    let landed = a
        .sign_in(
            &a.authorize(&[("scope", "")]),
            "alice@example.com",
            "alice",
            true,
        )
        .await
        .unwrap();
    let (_, set) = a.exchange(&landed).await;
    assert!(
        set.get("refresh_token").is_none(),
        "no refresh_token scope, no refresh token"
    );

    let landed = a
        .sign_in(&a.authorize(&[]), "alice@example.com", "alice", true)
        .await
        .unwrap();
    let (_, set) = a.exchange(&landed).await;
    let rt = set["refresh_token"].as_str().unwrap().to_owned();
    // Refreshing does not extend the validity (86,400 s from sign-in).
    for _ in 0..3 {
        a.emu.advance_clock(20_000);
        assert_eq!(a.refresh(&rt).await.0, StatusCode::OK);
    }
    a.emu.advance_clock(30_000);
    let (status, dead) = a.refresh(&rt).await;
    assert_eq!(
        (status, dead["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn single_use_refresh_tokens_rotate_and_reuse_revokes_the_chain() {
    let a = account(true).await;
    let landed = a
        .sign_in(&a.authorize(&[]), "alice@example.com", "alice", true)
        .await
        .unwrap();
    let (_, set) = a.exchange(&landed).await;
    let first = set["refresh_token"].as_str().unwrap().to_owned();
    let (_, next) = a.refresh(&first).await;
    let second = next["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "rotated");
    // Reusing the first kills the chain: the second dies with it.
    let (status, _) = a.refresh(&first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = a.refresh(&second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(a.emu.counters().reuse_detections, 1);
}
