//! A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records each
//! delivery's Standard Webhooks headers and body, answers a status the test sets, and can go
//! down (nothing listens on its port) and come back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use lakegate::egress::{Egress, HostPort, Policy};
use reqwest::StatusCode;

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
