//! A running emulator per test, and a client that walks the authorize page like a browser.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::engine::authz::s256;
use warehouse_emulator::{AppRequest, Emulator, EmulatorConfig, EmulatorHandle, TokenPolicy};

pub const REDIRECT: &str = "http://127.0.0.1:9999/connections/oauth/databricks/callback";
pub const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier-0123";

pub struct Ws {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub client_id: String,
    pub client_secret: String,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The spec looks at the wire: no transparent decompression (the workspace's feature
    // unification may turn reqwest's on).
    reqwest::Client::builder()
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Ws {
    pub async fn start() -> Ws {
        Self::with(
            EmulatorConfig::for_tests(),
            TokenPolicy::default(),
            &["all-apis"],
        )
        .await
    }

    pub async fn with(config: EmulatorConfig, policy: TokenPolicy, scopes: &[&str]) -> Ws {
        let emu = Emulator::start(config).await.unwrap();
        let app = emu
            .register_app(AppRequest {
                name: Some("Lakegate".into()),
                redirect_urls: Some(vec![REDIRECT.into()]),
                confidential: Some(true),
                scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
                token_access_policy: Some(policy),
                ..Default::default()
            })
            .unwrap();
        Ws {
            emu,
            http: client(),
            client_id: app.client_id,
            client_secret: app.client_secret.unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url, path)
    }

    pub fn authorize_url(&self, scope: &str, state: &str) -> String {
        let q = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", state),
            ("code_challenge", &s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .unwrap();
        self.url(&format!("/oidc/v1/authorize?{q}"))
    }

    /// Signs in on the login page and answers the consent page; returns the redirect.
    pub async fn consent(
        &self,
        authorize_url: &str,
        email: &str,
        password: &str,
        allow: bool,
    ) -> reqwest::Response {
        let page = self.http.get(authorize_url).sent().await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let request = field(&html, "request");
        let resp = self
            .http
            .post(self.url("/oidc/v1/authorize/login"))
            .form(&[
                ("request", request.as_str()),
                ("email", email),
                ("password", password),
            ])
            .sent()
            .await;
        if resp.status() != StatusCode::OK {
            return resp;
        }
        let decision = if allow { "allow" } else { "deny" };
        self.http
            .post(self.url("/oidc/v1/authorize/consent"))
            .form(&[("request", request.as_str()), ("decision", decision)])
            .sent()
            .await
    }

    /// The query of a redirect to our callback.
    pub fn callback(resp: &reqwest::Response) -> Vec<(String, String)> {
        assert!(
            resp.status().is_redirection(),
            "expected a redirect, got {}",
            resp.status()
        );
        let loc = resp.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        url::Url::parse(loc)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    pub async fn code_for(&self, email: &str, password: &str, scope: &str) -> String {
        let resp = self
            .consent(&self.authorize_url(scope, "st"), email, password, true)
            .await;
        let q = Self::callback(&resp);
        q.iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.clone())
            .expect("a code")
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/oidc/v1/token"))
            .form(form)
            .sent()
            .await
    }

    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ])
        .await
    }

    pub async fn refresh(&self, rt: &str) -> reqwest::Response {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ])
        .await
    }

    /// Tokens for a user, through the whole authorize + exchange dance.
    pub async fn tokens(&self, email: &str, password: &str, scope: &str) -> Value {
        let code = self.code_for(email, password, scope).await;
        let resp = self.exchange(&code).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    pub async fn alice(&self) -> String {
        self.tokens("alice@example.com", "alice", "all-apis offline_access")
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn bob(&self) -> String {
        self.tokens("bob@example.com", "bob", "all-apis offline_access")
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An unauthenticated GET of a JSON document (discovery, JWKS).
    pub async fn json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(self.url(path))
            .sent()
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .sent()
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .sent()
            .await
    }
}

/// The value of a hidden form field.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `send().await.unwrap()` in one step: a request that cannot be sent fails the test.
pub trait Sent {
    fn sent(self) -> impl std::future::Future<Output = reqwest::Response>;
}

impl Sent for reqwest::RequestBuilder {
    async fn sent(self) -> reqwest::Response {
        self.send().await.unwrap()
    }
}
