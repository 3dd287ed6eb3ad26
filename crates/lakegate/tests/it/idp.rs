//! A real OpenID provider for the SSO suites: panva's `oidc-provider` (e2e/oidc/provider.mjs)
//! in a Node process, over HTTPS with a CA made for it, its clock set to the test's. Its
//! login and consent pages are driven as a browser would.

use std::process::Stdio;

use lakegate::egress::{Egress, HostPort, Policy};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::harness::{START, Sent, hidden_field, http_builder};

pub const CLIENT_ID: &str = "lakegate-sso";
pub const CLIENT_SECRET: &str = "idp-client-secret-for-tests";

pub struct Idp {
    pub issuer: String,
    ca_pem: String,
    _child: tokio::process::Child,
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// Whether Node and the e2e packages are here. Outside CI the SSO suites skip without
/// them (`npm ci --prefix e2e` installs them); under CI their absence fails.
pub fn available() -> bool {
    let ok = root().join("node_modules/oidc-provider").is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
        panic!("CI is set but Node or e2e/node_modules (npm ci --prefix e2e) is missing");
    }
    if !ok {
        eprintln!("skipped: Node or e2e/node_modules is missing (npm ci --prefix e2e)");
    }
    ok
}

impl Idp {
    /// Starts a provider with one client whose redirect URL is `redirect_uri`.
    pub async fn start(redirect_uri: &str) -> Idp {
        let pems = warehouse_emulator::engine::tls::generate_pems().unwrap();
        let config = json!({
            "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                         "redirect_uris": [redirect_uri]}],
            "cert": pems.cert_pem, "key": pems.key_pem, "epoch": START,
        });
        let mut child = tokio::process::Command::new("node")
            .arg(root().join("oidc/provider.mjs"))
            .env("OIDC_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next_line()
            .await
            .unwrap()
            .expect("the provider prints its issuer");
        let issuer = serde_json::from_str::<Value>(&first).unwrap()["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        // The provider logs to stdout as it runs: keep reading, or its writes fail.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Idp {
            issuer,
            ca_pem: pems.ca_pem,
            _child: child,
        }
    }

    fn host_port(&self) -> String {
        self.issuer.trim_start_matches("https://").to_owned()
    }

    /// Lakegate's egress: this provider's host and port, loopback, trusting its CA.
    pub fn egress(&self) -> Egress {
        let policy = Policy {
            extra_allowed_hosts: vec![HostPort::parse(&self.host_port()).unwrap()],
            allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            insecure_http_hosts: vec![],
            ..Policy::default()
        };
        Egress::new(policy, Some(self.ca_pem.as_bytes())).unwrap()
    }

    /// A browser on the provider's pages: its own cookies, no redirects followed.
    fn browser(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
        http_builder()
            .tls_certs_merge([ca])
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// The next token response's ID token gets these claims (null removes one), signed
    /// again by the provider's key (or, with `"foreign_key": true`, by one it does not publish).
    pub async fn tamper_next_id_token(&self, patch: Value) {
        let resp = self
            .browser()
            .post(format!("{}/__test/next-id-token", self.issuer))
            .json(&patch)
            .sent()
            .await;
        assert_eq!(resp.status(), reqwest::StatusCode::NO_CONTENT);
    }

    /// Signs in as `login` on the provider's own pages and consents: the URL the provider
    /// sends the browser back to (Lakegate's callback).
    pub async fn sign_in(&self, authorize: &str, login: &str) -> String {
        let b = self.browser();
        let mut url = authorize.to_owned();
        for _ in 0..10 {
            let resp = b.get(&url).sent().await;
            if let Some(loc) = resp.headers().get("location") {
                let loc = loc.to_str().unwrap().to_owned();
                if !loc.starts_with(&self.issuer) && !loc.starts_with('/') {
                    return loc;
                }
                url = absolute(&self.issuer, &loc);
                continue;
            }
            let page = resp.text().await.unwrap();
            let action = absolute(&self.issuer, &form_action(&page));
            // The dev interaction pages: a login form, then a consent form.
            let prompt = hidden_field(&page, "prompt");
            let mut form = vec![("prompt", prompt.as_str())];
            if prompt == "login" {
                form.extend([("login", login), ("password", "any")]);
            }
            let posted = b.post(&action).form(&form).sent().await;
            let status = posted.status();
            let Some(loc) = posted.headers().get("location").cloned() else {
                panic!(
                    "{action}: {status} {}\n{page}",
                    posted.text().await.unwrap()
                );
            };
            let loc = loc.to_str().unwrap().to_owned();
            url = absolute(&self.issuer, &loc);
        }
        panic!("the provider never redirected back");
    }
}

fn absolute(issuer: &str, loc: &str) -> String {
    if loc.starts_with('/') {
        format!("{issuer}{loc}")
    } else {
        loc.to_owned()
    }
}

fn form_action(page: &str) -> String {
    let start = page.find("action=\"").expect("a form") + "action=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}
