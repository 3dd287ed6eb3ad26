//! Replicas as real `lakegate serve` processes — two on one PostgreSQL database, two on one
//! SQLite file — killed with SIGKILL at named failpoints: while holding the refresh lease,
//! after the token response, after the commit. Each process has its own pool, key-ring
//! cache and single flight; time is a clock file the test moves (`testkit::process`), so
//! lease expiry needs no waiting. The emulator rotates refresh tokens strictly (no reuse
//! grace): a refresh token presented twice revokes the user's whole grant.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lakegate::accounts::Role;
use lakegate::auth::Scope;
use lakegate::crypto::envelope::Keyring;
use lakegate::crypto::master_key::MasterKeySource;
use lakegate::secret::Secret;
use lakegate::store::CredentialState;
use lakegate::testkit::process::Serve;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::TokenPolicy;

use crate::harness::{START, Sent, TestApp, TestDb, Workspace};

crate::on_each_backend!(
    a_process_killed_holding_the_lease_is_taken_over_once_the_lease_expires,
    a_kill_after_the_token_response_loses_only_that_refresh_and_asks_for_a_new_sign_in,
    a_kill_after_the_commit_loses_nothing,
    a_credential_deleted_during_a_refresh_is_never_resurrected,
);

const HOLDING_LEASE: &str = "refresh:holding_lease";
const AFTER_TOKEN_RESPONSE: &str = "refresh:after_token_response";
const AFTER_COMMIT: &str = "refresh:after_commit";

/// Where the processes find their configuration, clock and failpoint files.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    pub(crate) env: Vec<(&'static str, String)>,
}

/// Polls `done` until it holds (the processes run on their own; this waits for an event,
/// not for time to pass), failing after a generous bound.
pub(crate) async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..1500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}

fn marker(dir: &Path, point: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{}.{suffix}", point.replace(':', "_")))
}

impl Cluster {
    pub(crate) fn new(db: &TestDb, ws: &Workspace, master_key: &str, now: i64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let key = write("master.key", master_key);
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let ca = write("emulator-ca.pem", ws.emu.ca_pem.as_deref().unwrap());
        let clock = write("clock", &now.to_string());
        std::fs::create_dir(dir.path().join("failpoints")).unwrap();
        let env = vec![
            ("LAKEGATE_DATABASE_URL", db.url.clone()),
            ("LAKEGATE_MASTER_KEY_FILE", key),
            ("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS", ws.host()),
            ("LAKEGATE_EGRESS_ALLOWED_CIDRS", "127.0.0.0/8".to_owned()),
            ("LAKEGATE_EGRESS_EXTRA_CA_FILE", ca),
            ("LAKEGATE_TEST_CLOCK_FILE", clock),
            (
                "LAKEGATE_TEST_FAILPOINT_DIR",
                dir.path().join("failpoints").display().to_string(),
            ),
            ("LAKEGATE_LOG_LEVEL", "info".to_owned()),
        ];
        Cluster { dir, env }
    }

    pub(crate) fn set_clock(&self, now: i64) {
        std::fs::write(self.dir.path().join("clock"), now.to_string()).unwrap();
    }

    fn failpoints(&self) -> PathBuf {
        self.dir.path().join("failpoints")
    }

    /// Starts a process (pausing at `failpoints`) and waits until it serves.
    pub(crate) async fn start(&self, name: &str, failpoints: &[&str]) -> Serve {
        let mut env = self.env.clone();
        env.push(("LAKEGATE_TEST_FAILPOINTS", failpoints.join(",")));
        let bin = Path::new(env!("CARGO_BIN_EXE_lakegate"));
        Serve::start(bin, &env, self.dir.path(), name).await
    }

    pub(crate) async fn reached(&self, point: &str) {
        let file = marker(&self.failpoints(), point, "reached");
        until(&format!("the failpoint {point}"), async || file.exists()).await;
    }

    fn release(&self, point: &str) {
        std::fs::write(marker(&self.failpoints(), point, "release"), b"").unwrap();
    }
}

/// Two users with credentials on one shared connection: ed's access token has expired
/// (using it needs a refresh), vi's has hours left (nothing touches it).
struct World {
    db: TestDb,
    ws: Workspace,
    app: TestApp,
    cluster: Cluster,
    conn: String,
    ed: (String, String),
    vi: (String, String),
}

/// A random master key: as a key file holds it (for the processes), and loaded.
pub(crate) fn master_key() -> (String, lakegate::crypto::master_key::MasterKey) {
    let text = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        rand::random::<[u8; 32]>(),
    );
    let (key, _) = MasterKeySource::Value(Secret::new(text.clone()))
        .load(false)
        .unwrap();
    (text, key)
}

async fn world() -> World {
    let db = TestDb::current().await;
    let (master_key, key) = master_key();
    let mut ws = Workspace::start().await;
    let app = TestApp::spawn_keyed(&db, Some(&ws), Arc::new(Keyring::new(key))).await;
    ws.register_for_with(
        &app,
        TokenPolicy {
            enable_single_use_refresh_tokens: true,
            reuse_grace_seconds: 0,
            ..TokenPolicy::default()
        },
    );
    let org = app.org("acme").await;
    ws.configure(&app, &org).await;
    let ed = app.user(&org, "ed@acme.test", Role::Editor).await;
    let vi = app.user(&org, "vi@acme.test", Role::Editor).await;
    let conn = lakegate::testkit::connection(&app.state, &ed, &org, "Sales", true).await;
    ws.mint_credential(&app.state, &ed, &conn, "alice@example.com", 0)
        .await;
    ws.mint_credential(&app.state, &vi, &conn, "bob@example.com", 6 * 3600)
        .await;
    let scopes = [Scope::TokensVend, Scope::ConnectionsRead];
    let ed_token = app.token(&ed, &scopes).await.0;
    let vi_token = app.token(&vi, &scopes).await.0;
    let cluster = Cluster::new(&db, &ws, &master_key, START + 10);
    World {
        db,
        ws,
        app,
        cluster,
        conn,
        ed: (ed.id, ed_token),
        vi: (vi.id, vi_token),
    }
}

impl World {
    /// `POST …/access-token` on `proc` with `token`; status and body (or the transport
    /// error of a request whose process died).
    async fn vend(&self, proc: &Serve, token: &str) -> Result<(StatusCode, Value), String> {
        let resp = crate::harness::http()
            .post(format!(
                "{}/api/v1/connections/{}/access-token",
                proc.base, self.conn
            ))
            .bearer_auth(token)
            .json(&json!({"min_remaining_seconds": 60}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// A vend that will hang at a paused failpoint, running on its own.
    fn vend_in_background(
        &self,
        proc: &Serve,
    ) -> tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>> {
        let req = crate::harness::http()
            .post(format!(
                "{}/api/v1/connections/{}/access-token",
                proc.base, self.conn
            ))
            .bearer_auth(&self.ed.1)
            .json(&json!({"min_remaining_seconds": 60}));
        tokio::spawn(req.send())
    }

    async fn ed_credential(&self) -> Option<lakegate::store::CredentialRow> {
        self.app
            .store
            .credential(&self.conn, &self.ed.0)
            .await
            .unwrap()
    }

    fn refreshes(&self) -> u64 {
        self.ws.emu.counters().token_calls_refresh_token
    }

    /// vi's credential was never in flight: it still vends, without a refresh.
    async fn vi_is_untouched(&self, proc: &Serve) {
        let before = self.refreshes();
        let (status, body) = self.vend(proc, &self.vi.1).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(self.refreshes(), before);
    }
}

async fn a_process_killed_holding_the_lease_is_taken_over_once_the_lease_expires() {
    let w = world().await;
    let mut p1 = w.cluster.start("p1", &[HOLDING_LEASE]).await;
    let p2 = w.cluster.start("p2", &[]).await;
    let hung = w.vend_in_background(&p1);
    w.cluster.reached(HOLDING_LEASE).await;
    p1.kill9();
    assert!(
        hung.await.unwrap().is_err(),
        "the caller of the dead process saw it die"
    );
    let held = w.ed_credential().await.unwrap();
    assert!(
        held.lease_until.is_some(),
        "the dead process's lease is still there"
    );
    assert_eq!(w.refreshes(), 0, "it died before asking for a token");

    // Once the lease has expired, the other process takes it and refreshes, once.
    w.cluster.set_clock(held.lease_until.unwrap());
    let (status, body) = w.vend(&p2, &w.ed.1).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.refreshes(), 1);
    let after = w.ed_credential().await.unwrap();
    assert_eq!(
        (after.status, after.lease_until),
        (CredentialState::Active, None)
    );
    assert_eq!(after.version, held.version + 1);
    w.vi_is_untouched(&p2).await;
    drop(w.db);
}

async fn a_kill_after_the_token_response_loses_only_that_refresh_and_asks_for_a_new_sign_in() {
    let w = world().await;
    let mut p1 = w.cluster.start("p1", &[AFTER_TOKEN_RESPONSE]).await;
    let p2 = w.cluster.start("p2", &[]).await;
    let hung = w.vend_in_background(&p1);
    w.cluster.reached(AFTER_TOKEN_RESPONSE).await;
    // The provider rotated the refresh token; the new one dies with the process.
    assert_eq!(w.ws.emu.counters().refresh_rotations, 1);
    p1.kill9();
    assert!(hung.await.unwrap().is_err());

    // The next refresh presents the rotated-away token: the provider revokes the grant, and
    // the credential says "sign in again" with the reason — an answer, not a hang.
    let lease_until = w.ed_credential().await.unwrap().lease_until.unwrap();
    w.cluster.set_clock(lease_until);
    let (status, body) = w.vend(&p2, &w.ed.1).await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "reauth_required");
    assert_eq!(w.ws.emu.counters().reuse_detections, 1);
    let ed = w.ed_credential().await.unwrap();
    assert_eq!(ed.status, CredentialState::ReauthRequired);
    assert!(
        !ed.status_reason.unwrap_or_default().is_empty(),
        "with a reason"
    );
    // Only the killed process's in-flight refresh was lost.
    w.vi_is_untouched(&p2).await;
}

async fn a_kill_after_the_commit_loses_nothing() {
    let w = world().await;
    let mut p1 = w.cluster.start("p1", &[AFTER_COMMIT]).await;
    let p2 = w.cluster.start("p2", &[]).await;
    let hung = w.vend_in_background(&p1);
    w.cluster.reached(AFTER_COMMIT).await;
    p1.kill9();
    assert!(hung.await.unwrap().is_err());
    assert_eq!(w.refreshes(), 1);

    // The committed pair is there, lease released: the next caller just uses it.
    let stored = w.ed_credential().await.unwrap();
    assert_eq!(
        (stored.status, stored.lease_until),
        (CredentialState::Active, None)
    );
    let (status, body) = w.vend(&p2, &w.ed.1).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.refreshes(), 1, "no second refresh");
    w.vi_is_untouched(&p2).await;
}

async fn a_credential_deleted_during_a_refresh_is_never_resurrected() {
    let w = world().await;
    let p1 = w.cluster.start("p1", &[AFTER_TOKEN_RESPONSE]).await;
    let p2 = w.cluster.start("p2", &[]).await;
    let pending = w.vend_in_background(&p1);
    w.cluster.reached(AFTER_TOKEN_RESPONSE).await;

    // Ed disconnects through the other process while the refresh is in flight.
    let resp = crate::harness::http()
        .delete(format!(
            "{}/api/v1/connections/{}/credential",
            p2.base, w.conn
        ))
        .bearer_auth(&w.ed.1)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    w.cluster.release(AFTER_TOKEN_RESPONSE);

    // The refresh finishes into the fence: refused, and the credential stays gone.
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_signed_in", "{body}");
    assert!(w.ed_credential().await.is_none(), "resurrected");
    let (status, _) = w.vend(&p2, &w.ed.1).await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    w.vi_is_untouched(&p2).await;
}
