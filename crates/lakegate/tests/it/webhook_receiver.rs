//! What the webhook tests share: a receiver (an HTTP server on 127.0.0.1 that records each
//! delivery's Standard Webhooks headers and body, answers a status and body size the test
//! sets, and can go down and come back), a world whose app may reach it, and the checks a
//! receiver makes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use lakegate::accounts::Role;
use lakegate::egress::{Egress, HostPort, Policy};
use reqwest::{Method, StatusCode};
use serde_json::json;
use warehouse_emulator::TokenPolicy;

use crate::harness::{Browser, TestApp, TestDb, Workspace};
use crate::shared_identities::send;
use crate::world::Setup;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    pub(crate) signature: String,
    pub(crate) body: Vec<u8>,
}

/// A webhook receiver on 127.0.0.1: answers `status` while up, refuses connections while
/// down (nothing listens on its port).
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    pub(crate) status: Arc<Mutex<u16>>,
    /// Bytes of body it answers with.
    pub(crate) body_bytes: Arc<Mutex<usize>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            status: Arc::new(Mutex::new(204)),
            body_bytes: Arc::default(),
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (got, status, size) = (
            self.got.clone(),
            self.status.clone(),
            self.body_bytes.clone(),
        );
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (got, status, size) = (got.clone(), status.clone(), size.clone());
                async move {
                    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                    got.lock().unwrap().push(Got {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap(),
                        signature: h("webhook-signature"),
                        body: body.to_vec(),
                    });
                    let code = StatusCode::from_u16(*status.lock().unwrap()).unwrap();
                    (code, "x".repeat(*size.lock().unwrap()))
                }
            }),
        );
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    pub(crate) async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub(crate) async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub(crate) fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The webhook client an operator allowing this receiver would configure.
    pub(crate) fn allowing(&self) -> Egress {
        Egress::new(
            Policy {
                allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
                insecure_http_hosts: vec![HostPort::parse(&self.addr.to_string()).unwrap()],
                ..Policy::default()
            },
            None,
        )
        .unwrap()
    }
}

pub(crate) async fn world(db: &TestDb, receiver: &Receiver) -> (Setup, Browser) {
    world_with(db, receiver, TokenPolicy::default()).await
}

pub(crate) async fn world_with(
    db: &TestDb,
    receiver: &Receiver,
    policy: TokenPolicy,
) -> (Setup, Browser) {
    let s = crate::world::setup_delivering(
        db,
        policy,
        Workspace::start().await,
        lakegate::testkit::random_keyring(),
        Some(receiver.allowing()),
    )
    .await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    (s, admin)
}

/// Adds an endpoint for `events`: its id and secret.
pub(crate) async fn subscribe(admin: &Browser, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = send(
        admin,
        Method::POST,
        "/api/v1/webhooks",
        json!({"url": url, "events": events}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (body["id"].as_str().unwrap().to_owned(), secret)
}

pub(crate) async fn fresh_session(s: &Setup, email: &str) -> Browser {
    let user = s.app.find_user(&s.org.id, email).await;
    s.app.session_for(&user).await
}

pub(crate) async fn deliver(app: &TestApp) -> usize {
    app.state.services.webhooks.deliver_due().await
}

/// The Standard Webhooks check a receiver makes. With `LAKEGATE_WEBHOOK_SAMPLES` set, the
/// delivery is also appended to that file for `scripts/standard-webhooks-check.py`, which
/// checks it with the scheme's own library (PyPI `standardwebhooks`) in CI.
pub(crate) fn verify(secret: &str, got: &Got) {
    let expected =
        lakegate::webhooks::signature(secret, &got.id, got.timestamp, &got.body).unwrap();
    // Several signatures, space-separated, while a rotated secret's predecessor still signs.
    assert!(
        got.signature.split(' ').any(|s| s == expected),
        "{} lacks {expected}",
        got.signature
    );
    if let Some(path) = std::env::var_os("LAKEGATE_WEBHOOK_SAMPLES") {
        use std::io::Write;
        let sample = json!({
            "secret": secret,
            "webhook-id": got.id,
            "webhook-timestamp": got.timestamp.to_string(),
            "webhook-signature": got.signature,
            "body": String::from_utf8(got.body.clone()).unwrap(),
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{sample}").unwrap();
    }
}
