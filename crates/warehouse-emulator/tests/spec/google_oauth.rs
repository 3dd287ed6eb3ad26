//! Google's OAuth as the emulator answers it: errors on Google's own pages (never a
//! redirect), granular consent, refresh tokens only for offline access and only when the
//! consent screen showed, no rotation, ID tokens with the nonce, testing-mode expiry,
//! `invalid_rapt`, the 100-grant cap, revocation and userinfo.

use base64::Engine;
use reqwest::StatusCode;

use crate::google::{CLIENT_ID, REDIRECT, SECRET, google, param};
use crate::harness::{Sent, VERIFIER, jwt_claims};

const BQ: &str = "https://www.googleapis.com/auth/bigquery";

#[tokio::test]
async fn bad_requests_end_on_googles_error_page_without_a_redirect() {
    let g = google(false).await;
    for (params, status, code) in [
        (
            vec![(
                "redirect_uri",
                "https://lakegate.example/connections/oauth/bigquery/callback/",
            )],
            400,
            "redirect_uri_mismatch",
        ),
        (
            vec![("scope", "openid email offline_access")],
            400,
            "invalid_scope",
        ),
        (
            vec![("client_id", "nope.apps.googleusercontent.com")],
            401,
            "invalid_client",
        ),
    ] {
        let resp = g.http.get(g.authorize(&params)).sent().await;
        assert_eq!(resp.status().as_u16(), status, "{params:?}");
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.unwrap();
        assert!(
            page.contains(&format!("<code id=\"code\">{code}</code>")),
            "{page}"
        );
    }
    let page = g
        .http
        .get(g.authorize(&[("scope", "openid offline_access")]))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("invalid=[offline_access]"),
        "Google names the scope"
    );
}

#[tokio::test]
async fn a_user_may_untick_bigquery_and_the_grant_says_so() {
    let g = google(false).await;
    let q = g.sign_in(&g.authorize(&[]), "alice@example.com", &[]).await;
    let granted = param(&q, "scope").unwrap();
    assert!(!granted.contains(BQ), "{granted}");
    let (_, tokens) = g.exchange(&param(&q, "code").unwrap()).await;
    let scope = tokens["scope"].as_str().unwrap();
    assert!(scope.contains("openid") && scope.contains("userinfo.email") && !scope.contains(BQ));
    let q = g
        .sign_in(&g.authorize(&[]), "alice@example.com", &[BQ])
        .await;
    assert!(param(&q, "scope").unwrap().contains(BQ));
}

#[tokio::test]
async fn codes_work_once_with_body_or_basic_client_auth_and_carry_an_id_token() {
    let g = google(false).await;
    let q = g
        .sign_in(&g.authorize(&[]), "alice@example.com", &[BQ])
        .await;
    let code = param(&q, "code").unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    let resp = g
        .http
        .post(g.url("/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(tokens["expires_in"], 3599);
    assert!(
        tokens["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ya29.")
    );
    assert!(tokens["refresh_token"].is_string());
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["iss"], g.emu.base_url.as_str());
    assert!(
        claims["sub"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );

    let (status, again) = g.exchange(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (again["error"].as_str(), again["error_description"].as_str()),
        (Some("invalid_grant"), Some("Bad Request"))
    );
    let (status, wrong) = g
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn refresh_tokens_need_offline_access_and_a_shown_consent_and_never_rotate() {
    let g = google(false).await;
    let online = g
        .sign_in(
            &g.authorize(&[("access_type", "")]),
            "bob@example.com",
            &[BQ],
        )
        .await;
    let (_, t) = g.exchange(&param(&online, "code").unwrap()).await;
    assert!(
        t.get("refresh_token").is_none(),
        "online access: no refresh token"
    );

    let first = g.tokens("alice@example.com").await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    // Signing in again without prompt=consent: no consent screen, so no refresh token.
    let again = g
        .sign_in(&g.authorize(&[("prompt", "")]), "alice@example.com", &[])
        .await;
    let (_, t) = g.exchange(&param(&again, "code").unwrap()).await;
    assert!(t.get("refresh_token").is_none(), "{t}");

    let (status, refreshed) = g.refresh(&rt).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        refreshed.get("refresh_token").is_none(),
        "not rotated: none comes back"
    );
    assert!(refreshed["scope"].as_str().unwrap().contains(BQ));
    let (status, _) = g.refresh(&rt).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same refresh token keeps working"
    );
}

#[tokio::test]
async fn testing_mode_tokens_die_after_seven_days_and_session_control_says_invalid_rapt() {
    let g = google(true).await;
    let rt = g.tokens("alice@example.com").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    g.emu.advance_clock(7 * 86_400 - 60);
    assert_eq!(g.refresh(&rt).await.0, StatusCode::OK);
    g.emu.advance_clock(61);
    let (status, dead) = g.refresh(&rt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dead["error_description"],
        "Token has been expired or revoked."
    );

    let rt = g.tokens("bob@example.com").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    g.emu.require_google_reauth("bob@example.com");
    let (status, rapt) = g.refresh(&rt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (rapt["error"].as_str(), rapt["error_subtype"].as_str()),
        (Some("invalid_grant"), Some("invalid_rapt"))
    );
}

#[tokio::test]
async fn the_hundred_and_first_grant_silently_drops_the_oldest() {
    let g = google(false).await;
    let oldest = g.tokens("alice@example.com").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = g.tokens("alice@example.com").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..99 {
        g.tokens("alice@example.com").await;
    }
    assert_eq!(
        g.refresh(&oldest).await.0,
        StatusCode::BAD_REQUEST,
        "dropped"
    );
    assert_eq!(
        g.refresh(&second).await.0,
        StatusCode::OK,
        "the other hundred live"
    );
}

#[tokio::test]
async fn revoking_either_token_ends_the_grant_and_userinfo_names_the_user() {
    let g = google(false).await;
    let other = g.tokens("alice@example.com").await;
    let t = g.tokens("alice@example.com").await;
    let access = t["access_token"].as_str().unwrap();
    let info: serde_json::Value = g
        .http
        .get(g.url("/v1/userinfo"))
        .bearer_auth(access)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["email"].as_str(), info["email_verified"].as_bool()),
        (Some("alice@example.com"), Some(true))
    );
    let revoke = |token: String| {
        let req = g.http.post(g.url("/revoke")).form(&[("token", token)]);
        async move { req.sent().await.status() }
    };
    assert_eq!(revoke(access.to_owned()).await, StatusCode::OK);
    assert_eq!(
        g.refresh(t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST,
        "the grant ended"
    );
    assert_eq!(
        g.refresh(other["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST,
        "and, strictest reading, the user's other grants to this client"
    );
    assert_eq!(
        revoke(access.to_owned()).await,
        StatusCode::BAD_REQUEST,
        "already revoked"
    );
}
