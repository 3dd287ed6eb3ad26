//! The Google front-end's shared test fixture: an emulator with one "Web application"
//! client, and a browser-less walk through its sign-in and consent pages.

use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::engine::authz::s256;
use warehouse_emulator::{Emulator, EmulatorConfig, EmulatorHandle, GoogleClientConfig};

use crate::harness::{Sent, VERIFIER, client, field};

pub const REDIRECT: &str = "https://lakegate.example/connections/oauth/bigquery/callback";
pub const CLIENT_ID: &str = "123-abc.apps.googleusercontent.com";
pub const SECRET: &str = "GOCSPX-secret";
pub const SCOPES: &str = "openid email https://www.googleapis.com/auth/bigquery";

pub struct Google {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
}

pub async fn google(testing: bool) -> Google {
    google_on(EmulatorConfig::for_tests(), testing).await
}

pub async fn google_on(config: EmulatorConfig, testing: bool) -> Google {
    let emu = Emulator::start(config).await.unwrap();
    emu.register_google_client(GoogleClientConfig {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![REDIRECT.into()],
        testing,
    });
    Google {
        emu,
        http: client(),
    }
}

impl Google {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url, path)
    }

    /// An authorize URL with Lakegate's parameters, `params` replacing or (empty) removing.
    pub fn authorize(&self, params: &[(&str, &str)]) -> String {
        let challenge = s256(VERIFIER);
        let mut all: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("state", "st"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("scope", SCOPES),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "true"),
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
            "/o/oauth2/v2/auth?{}",
            serde_urlencoded::to_string(all).unwrap()
        ))
    }

    /// Signs in as `email` and ticks `ticked` on the consent page (if it shows): the
    /// redirect's query, or `None` when Google stayed on its pages.
    pub async fn sign_in(&self, url: &str, email: &str, ticked: &[&str]) -> Vec<(String, String)> {
        let page = self.http.get(url).sent().await.text().await.unwrap();
        let request = field(&page, "request");
        let password = email.split('@').next().unwrap();
        let login = self
            .http
            .post(self.url("/o/oauth2/v2/auth/login"))
            .form(&[
                ("request", request.as_str()),
                ("email", email),
                ("password", password),
            ])
            .sent()
            .await;
        let resp = if login.status() == StatusCode::SEE_OTHER {
            login
        } else {
            let mut form = vec![("request", request.as_str()), ("decision", "allow")];
            form.extend(ticked.iter().map(|t| ("scope", *t)));
            self.http
                .post(self.url("/o/oauth2/v2/auth/consent"))
                .form(&form)
                .sent()
                .await
        };
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let location = resp.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self.http.post(self.url("/token")).form(form).sent().await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn exchange(&self, code: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    pub async fn refresh(&self, rt: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .await
    }

    /// Tokens of `email` with every scope granted.
    pub async fn tokens(&self, email: &str) -> Value {
        let q = self
            .sign_in(
                &self.authorize(&[]),
                email,
                &["https://www.googleapis.com/auth/bigquery"],
            )
            .await;
        let code = param(&q, "code").unwrap();
        let (status, body) = self.exchange(&code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

pub fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}
