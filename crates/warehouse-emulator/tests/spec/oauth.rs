//! OAuth U2M: discovery, the authorize page, the token endpoint, refresh-token policy.

use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::{EmulatorConfig, TokenPolicy};

use crate::harness::{REDIRECT, Sent, VERIFIER, Ws, jwt_claims};

#[tokio::test]
async fn discovery_is_served_at_both_well_known_paths() {
    let ws = Ws::start().await;
    for path in [
        "/oidc/.well-known/oauth-authorization-server",
        "/oidc/.well-known/openid-configuration",
    ] {
        let doc: Value = ws.http.get(ws.url(path)).sent().await.json().await.unwrap();
        assert_eq!(doc["issuer"], format!("{}/oidc", ws.emu.base_url));
        assert_eq!(doc["authorization_endpoint"], ws.url("/oidc/v1/authorize"));
        assert_eq!(doc["token_endpoint"], ws.url("/oidc/v1/token"));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert!(
            doc.get("revocation_endpoint").is_none(),
            "Databricks advertises none"
        );
    }
}

#[tokio::test]
async fn unknown_redirect_uri_shows_json_and_does_not_redirect() {
    let ws = Ws::start().await;
    for wrong in [
        "http://localhost:9999/connections/oauth/databricks/callback",
        "http://127.0.0.1:9998/connections/oauth/databricks/callback",
    ] {
        let url = ws
            .authorize_url("all-apis", "s")
            .replace(&urlencode(REDIRECT), &urlencode(wrong));
        let resp = ws.http.get(url).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get("location").is_none());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(
            body["error_description"],
            format!(
                "redirect_uri '{wrong}' not registered for OAuth application '{}'",
                ws.client_id
            )
        );
    }
    let unknown = ws
        .authorize_url("all-apis", "s")
        .replace(&ws.client_id, "nope");
    let resp = ws.http.get(unknown).sent().await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn pkce_s256_is_required() {
    let ws = Ws::start().await;
    for (from, to) in [
        ("code_challenge_method=S256", "code_challenge_method=plain"),
        ("&code_challenge_method=S256", ""),
    ] {
        let url = ws.authorize_url("all-apis", "s1").replace(from, to);
        let resp = ws.http.get(url).sent().await;
        let q = Ws::callback(&resp);
        assert!(
            q.contains(&("error".into(), "invalid_request".into())),
            "{q:?}"
        );
        assert!(q.contains(&("state".into(), "s1".into())));
    }
}

#[tokio::test]
async fn scopes_beyond_the_apps_are_denied() {
    let ws = Ws::with(
        EmulatorConfig::for_tests(),
        TokenPolicy::default(),
        &["sql"],
    )
    .await;
    let resp = ws
        .http
        .get(ws.authorize_url("all-apis offline_access", "s2"))
        .sent()
        .await;
    let q = Ws::callback(&resp);
    assert!(
        q.contains(&("error".into(), "access_denied".into())),
        "{q:?}"
    );
    // The implicit scopes are always allowed.
    let ok = ws
        .http
        .get(ws.authorize_url("sql offline_access openid email profile", "s3"))
        .sent()
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn denying_consent_redirects_with_access_denied_and_state() {
    let ws = Ws::start().await;
    let resp = ws
        .consent(
            &ws.authorize_url("all-apis", "keep-me"),
            "alice@example.com",
            "alice",
            false,
        )
        .await;
    let q = Ws::callback(&resp);
    assert!(q.contains(&("error".into(), "access_denied".into())));
    assert!(q.contains(&("state".into(), "keep-me".into())));
    assert!(q.contains(&("iss".into(), format!("{}/oidc", ws.emu.base_url))));
}

#[tokio::test]
async fn a_wrong_password_stays_on_the_login_page() {
    let ws = Ws::start().await;
    let resp = ws
        .consent(
            &ws.authorize_url("all-apis", "s"),
            "alice@example.com",
            "bob",
            true,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Invalid email or password")
    );
}

#[tokio::test]
async fn auto_approve_skips_the_consent_page() {
    let config = EmulatorConfig {
        auto_approve: true,
        ..EmulatorConfig::for_tests()
    };
    let ws = Ws::with(config, TokenPolicy::default(), &["all-apis"]).await;
    let page = ws
        .http
        .get(ws.authorize_url("all-apis", "s"))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    let request = crate::harness::field(&page, "request");
    let resp = ws
        .http
        .post(ws.url("/oidc/v1/authorize/login"))
        .form(&[
            ("request", request.as_str()),
            ("email", "alice@example.com"),
            ("password", "alice"),
        ])
        .sent()
        .await;
    let q = Ws::callback(&resp);
    assert!(q.iter().any(|(k, _)| k == "code"));
}

#[tokio::test]
async fn the_code_exchange_returns_a_jwt_an_opaque_refresh_token_and_an_id_token() {
    let ws = Ws::start().await;
    let t = ws
        .tokens(
            "alice@example.com",
            "alice",
            "all-apis offline_access openid email",
        )
        .await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "all-apis offline_access openid email");
    assert!(t["refresh_token"].as_str().unwrap().starts_with("doau"));
    let claims = jwt_claims(t["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], format!("{}/oidc", ws.emu.base_url));
    assert_eq!(claims["aud"], ws.client_id);
    assert!(jwt_claims(t["id_token"].as_str().unwrap())["email"] == "alice@example.com");
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let ws = Ws::start().await;
    let t = ws.tokens("alice@example.com", "alice", "all-apis").await;
    assert!(t.get("refresh_token").is_none());
    assert!(t.get("id_token").is_none());
}

#[tokio::test]
async fn basic_client_authentication_is_accepted_but_never_with_a_body_secret() {
    let ws = Ws::start().await;
    let doc: Value = ws
        .json("/oidc/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "client_secret_basic"]),
        "discovery states both methods the token endpoint accepts"
    );
    let exchange = |code: String, extra: Vec<(&'static str, String)>, secret: &str| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ];
        form.extend(extra);
        ws.http
            .post(ws.url("/oidc/v1/token"))
            .basic_auth(&ws.client_id, Some(secret.to_owned()))
            .form(&form)
    };
    let code = ws.code_for("alice@example.com", "alice", "all-apis").await;
    let same_id = vec![("client_id", ws.client_id.clone())];
    let resp = exchange(code, same_id, &ws.client_secret).sent().await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Two methods in one request (RFC 6749 §2.3.1) are refused, whichever would succeed.
    for (extra, basic_secret) in [
        (vec![("client_secret", ws.client_secret.clone())], "wrong"),
        (
            vec![("client_secret", "wrong".to_owned())],
            ws.client_secret.as_str(),
        ),
        (
            vec![("client_id", "another-client".to_owned())],
            ws.client_secret.as_str(),
        ),
    ] {
        let code = ws.code_for("alice@example.com", "alice", "all-apis").await;
        let (status, error, description) =
            error_of(exchange(code, extra, basic_secret).sent().await).await;
        assert_eq!(
            (status, error.as_str(), description.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Multiple client authentication methods"
            )
        );
    }
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let ws = Ws::with(
        EmulatorConfig::for_tests(),
        TokenPolicy::default(),
        &["all-apis", "sql"],
    )
    .await;
    let t = ws
        .tokens("alice@example.com", "alice", "sql offline_access")
        .await;
    let rt = t["refresh_token"].as_str().unwrap();
    let wider = error_of(refresh_with_scope(&ws, rt, "sql all-apis offline_access").await).await;
    assert_eq!(
        (wider.0, wider.1.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    let narrower: Value = refresh_with_scope(&ws, rt, "sql")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrower["scope"], "sql");
    assert_eq!(
        jwt_claims(narrower["access_token"].as_str().unwrap())["scope"],
        "sql"
    );
    let plain: Value = ws.refresh(rt).await.json().await.unwrap();
    assert_eq!(
        plain["scope"], "sql offline_access",
        "without scope: the whole grant"
    );
    assert_eq!(ws.emu.counters().refresh_requests_with_scope, 2);
}

async fn refresh_with_scope(ws: &Ws, rt: &str, scope: &str) -> reqwest::Response {
    ws.token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("scope", scope),
        ("client_id", &ws.client_id),
        ("client_secret", &ws.client_secret),
    ])
    .await
}

#[tokio::test]
async fn tokens_are_rs256_jwts_that_verify_against_the_jwks_discovery_names() {
    let ws = Ws::start().await;
    let doc: Value = ws.json("/oidc/.well-known/openid-configuration").await;
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let jwks: Value = ws
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    let t = ws
        .tokens(
            "alice@example.com",
            "alice",
            "all-apis offline_access openid email",
        )
        .await;
    use base64::Engine as _;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let (n, e) = (
        b64(key["n"].as_str().unwrap()),
        b64(key["e"].as_str().unwrap()),
    );
    for token in [&t["access_token"], &t["id_token"]] {
        let token = token.as_str().unwrap();
        let header: Value = serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some("RS256"), key["kid"].as_str())
        );
        let (input, sig) = token.rsplit_once('.').unwrap();
        ring::rsa::PublicKeyComponents { n: &n, e: &e }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &b64(sig),
            )
            .expect("the signature verifies against the published key");
    }
}

#[tokio::test]
async fn callbacks_carry_iss_as_discovery_advertises_or_neither() {
    for advertised in [true, false] {
        let config = EmulatorConfig {
            authorization_response_iss: advertised,
            ..EmulatorConfig::for_tests()
        };
        let ws = Ws::with(config, TokenPolicy::default(), &["all-apis"]).await;
        let doc: Value = ws
            .json("/oidc/.well-known/oauth-authorization-server")
            .await;
        assert_eq!(
            doc["authorization_response_iss_parameter_supported"],
            advertised
        );
        let granted = ws
            .consent(
                &ws.authorize_url("all-apis", "s"),
                "alice@example.com",
                "alice",
                true,
            )
            .await;
        let denied = ws
            .consent(
                &ws.authorize_url("all-apis", "s"),
                "alice@example.com",
                "alice",
                false,
            )
            .await;
        for resp in [granted, denied] {
            let iss = Ws::callback(&resp).into_iter().find(|(k, _)| k == "iss");
            let expected =
                advertised.then(|| ("iss".to_owned(), format!("{}/oidc", ws.emu.base_url)));
            assert_eq!(iss, expected);
        }
    }
}

async fn error_of(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().into(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .into(),
    )
}

#[tokio::test]
async fn codes_are_single_use_bound_to_verifier_redirect_client_and_short_lived() {
    let ws = Ws::start().await;
    let code = ws
        .code_for("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let base = |code: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
            ("client_id".to_owned(), ws.client_id.clone()),
            ("client_secret".to_owned(), ws.client_secret.clone()),
        ]
    };
    let with = |code: &str, key: &str, value: &str| -> Vec<(String, String)> {
        base(code)
            .into_iter()
            .map(|(k, v)| {
                if k == key {
                    (k, value.to_owned())
                } else {
                    (k, v)
                }
            })
            .collect()
    };
    let ws = &ws;
    let send = |form: Vec<(String, String)>| async move {
        ws.http
            .post(ws.url("/oidc/v1/token"))
            .form(&form)
            .sent()
            .await
    };

    let wrong_secret = error_of(send(with(&code, "client_secret", "nope")).await).await;
    assert_eq!(
        (wrong_secret.0, wrong_secret.1.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // A wrong secret is refused before the code is looked at: the code survives it.
    assert_eq!(send(base(&code)).await.status(), StatusCode::OK);
    let replay = error_of(send(base(&code)).await).await;
    assert_eq!(
        (replay.1.as_str(), replay.2.as_str()),
        ("invalid_grant", "Authorization code has already been used")
    );

    // A failed verifier or redirect check spends the code (the strictest reading).
    for (key, value) in [
        ("code_verifier", "x".repeat(50)),
        ("redirect_uri", "http://127.0.0.1:9999/other".to_owned()),
    ] {
        let code = ws
            .code_for("alice@example.com", "alice", "all-apis offline_access")
            .await;
        let failed = error_of(send(with(&code, key, &value)).await).await;
        assert_eq!(failed.1, "invalid_grant", "{key}");
        let retry = error_of(send(base(&code)).await).await;
        assert_eq!(
            (retry.1.as_str(), retry.2.as_str()),
            ("invalid_grant", "Authorization code has already been used"),
            "{key}: a failed check burns the code"
        );
    }

    let late = ws.code_for("alice@example.com", "alice", "all-apis").await;
    ws.emu.advance_clock(301);
    assert_eq!(
        error_of(send(base(&late)).await).await.2,
        "Authorization code has expired"
    );
    assert_eq!(ws.emu.counters().codes_redeemed, 1);
}

#[tokio::test]
async fn a_replayed_code_revokes_the_tokens_it_produced() {
    let ws = Ws::start().await;
    let code = ws
        .code_for("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let t: Value = ws.exchange(&code).await.json().await.unwrap();
    assert_eq!(ws.exchange(&code).await.status(), StatusCode::BAD_REQUEST);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        ws.get(at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ws.refresh(t["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_rotation_a_refresh_returns_the_same_refresh_token() {
    let ws = Ws::start().await;
    let t = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let rt = t["refresh_token"].as_str().unwrap();
    let r: Value = ws.refresh(rt).await.json().await.unwrap();
    assert_eq!(r["refresh_token"], rt);
    assert_ne!(r["access_token"], t["access_token"]);
    let again = ws.refresh(rt).await;
    assert_eq!(again.status(), StatusCode::OK);
}

fn rotating(grace: i64) -> TokenPolicy {
    TokenPolicy {
        enable_single_use_refresh_tokens: true,
        reuse_grace_seconds: grace,
        ..TokenPolicy::default()
    }
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let ws = Ws::with(EmulatorConfig::for_tests(), rotating(0), &["all-apis"]).await;
    let t = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let r2: Value = ws.refresh(&rt1).await.json().await.unwrap();
    let rt2 = r2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    let at2 = r2["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        ws.get(&at2, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK
    );

    let reuse = ws.refresh(&rt1).await;
    let (status, error, description) = error_of(reuse).await;
    assert_eq!(
        (status, error.as_str(), description.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Refresh token is invalid"
        )
    );
    assert_eq!(
        ws.refresh(&rt2).await.status(),
        StatusCode::UNAUTHORIZED,
        "the successor died with the family"
    );
    assert_eq!(
        ws.get(&at2, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::FORBIDDEN,
        "and its access tokens"
    );
    let c = ws.emu.counters();
    assert_eq!(
        (
            c.reuse_detections,
            c.refresh_rotations,
            c.refresh_tokens_presented
        ),
        (1, 1, 3)
    );
}

#[tokio::test]
async fn within_the_grace_window_a_reused_token_gets_the_same_successor() {
    let ws = Ws::with(EmulatorConfig::for_tests(), rotating(30), &["all-apis"]).await;
    let rt1 = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rt2 = ws.refresh(&rt1).await.json::<Value>().await.unwrap()["refresh_token"].clone();
    let again = ws.refresh(&rt1).await.json::<Value>().await.unwrap()["refresh_token"].clone();
    assert_eq!(rt2, again);
    ws.emu.advance_clock(31);
    assert_eq!(ws.refresh(&rt1).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ws.emu.counters().reuse_detections, 1);
}

#[tokio::test]
async fn refresh_tokens_expire_after_their_ttl_and_the_absolute_session_lifetime() {
    let policy = TokenPolicy {
        refresh_token_ttl_in_minutes: 60,
        enable_single_use_refresh_tokens: true,
        absolute_session_lifetime_in_minutes: Some(150),
        ..TokenPolicy::default()
    };
    let ws = Ws::with(EmulatorConfig::for_tests(), policy, &["all-apis"]).await;
    let mut rt = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each rotation renews the per-token TTL...
    for _ in 0..2 {
        ws.emu.advance_clock(55 * 60);
        let r: Value = ws.refresh(&rt).await.json().await.unwrap();
        rt = r["refresh_token"].as_str().unwrap().to_owned();
    }
    // ...but not the absolute lifetime (150 min after sign-in).
    ws.emu.advance_clock(45 * 60);
    let (status, error, _) = error_of(ws.refresh(&rt).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_request")
    );

    let ws = Ws::start().await;
    let rt = ws
        .tokens("bob@example.com", "bob", "all-apis offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.emu.advance_clock(10_080 * 60);
    assert_eq!(ws.refresh(&rt).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_dead_refresh_token_status_is_configurable() {
    let config = EmulatorConfig {
        invalid_refresh_status: 400,
        ..EmulatorConfig::for_tests()
    };
    let ws = Ws::with(config, TokenPolicy::default(), &["all-apis"]).await;
    let (status, error, description) = error_of(ws.refresh("doau-unknown").await).await;
    assert_eq!(
        (status, error.as_str(), description.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Refresh token is invalid"
        )
    );
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors() {
    let ws = Ws::start().await;
    let (s, e, _) = error_of(
        ws.token_request(&[
            ("client_id", &ws.client_id),
            ("client_secret", &ws.client_secret),
        ])
        .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (_, e, _) = error_of(
        ws.token_request(&[
            ("grant_type", "password"),
            ("client_id", &ws.client_id),
            ("client_secret", &ws.client_secret),
        ])
        .await,
    )
    .await;
    assert_eq!(e, "unsupported_grant_type");
    let (s, e, _) = error_of(
        ws.token_request(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}
