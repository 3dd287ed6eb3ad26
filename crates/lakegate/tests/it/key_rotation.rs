//! Key rotation while serving: a master key rotation and data key rotations run while a
//! refresh storm and queries run on three replicas. Nothing fails, nothing is lost, the
//! store holds no plaintext, and afterwards a replica with only the new master key and
//! only the newest data key serves every credential.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lakegate::auth::Scope;
use lakegate::clock::Clock;
use lakegate::crypto::envelope::{Keyring, key_id_of};
use lakegate::crypto::rotation::{self, Quiet};
use lakegate::store::{Backend, PLACES, Store};
use lakegate::testkit::master_key;
use reqwest::StatusCode;
use serde_json::json;
use warehouse_emulator::TokenPolicy;

use crate::harness::{Sent, TestApp, TestDb, Workspace, fresh_on, http};

crate::on_both_backends!(
    rotations_while_serving_fail_nothing_and_retire_the_old_keys,
    a_reencryption_never_undoes_a_refresh,
);

const OLD: [u8; 32] = [11; 32];
const NEW: [u8; 32] = [22; 32];

fn keyring(current: [u8; 32], previous: &[[u8; 32]]) -> Arc<Keyring> {
    Arc::new(Keyring::with_previous(
        master_key(current),
        previous.iter().map(|k| master_key(*k)).collect(),
    ))
}

async fn rotations_while_serving_fail_nothing_and_retire_the_old_keys(db: &TestDb) {
    let policy = TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..TokenPolicy::default()
    };
    let ws = Workspace::start().await;
    let s = crate::world::setup_keyed(db, policy, ws, keyring(OLD, &[])).await;
    let (_b, conn) = crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let (token, _) = s.app.token(&user, &[Scope::QueriesRun]).await;
    let before = s
        .app
        .store
        .current_data_key(&s.org.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.kek_id, keyring(OLD, &[]).kek_id());

    // The rolling restart: every replica now has the new key, and the old one as previous.
    let replicas = [
        TestApp::spawn_replica_keyed(db, &s.app, keyring(NEW, &[OLD])).await,
        TestApp::spawn_replica_keyed(db, &s.app, keyring(NEW, &[OLD])).await,
        TestApp::spawn_replica_keyed(db, &s.app, keyring(NEW, &[OLD])).await,
    ];
    let states: Vec<_> = replicas.iter().map(|r| r.state.clone()).collect();

    // The operator's commands, on their own pool, again and again until the storm ends.
    let storming = Arc::new(AtomicBool::new(true));
    let rotations = tokio::spawn({
        let (store, clock, org_id) = (
            Store::connect(&db.url).await.unwrap(),
            s.app.clock.clone(),
            s.org.id.clone(),
        );
        let storming = storming.clone();
        async move {
            let ring = keyring(NEW, &[OLD]);
            let mut runs = 0;
            while runs == 0 || (storming.load(Ordering::Acquire) && runs < 40) {
                rotation::rewrap_all(&store, &ring, &mut Quiet, clock.now())
                    .await
                    .unwrap();
                rotation::rotate_data(&store, &ring, &org_id, 1, &mut Quiet, clock.now())
                    .await
                    .unwrap();
                runs += 1;
                tokio::task::yield_now().await;
            }
            runs
        }
    });

    let (user_id, org_id) = (user.id.clone(), s.org.id.clone());
    let rounds = crate::storm::rounds(12);
    for round in 1..=rounds {
        s.advance(3600 - 120);
        crate::storm::crowd(&states, (&conn, &user_id, &org_id), 30, round).await;
        let replica = &replicas[round as usize % replicas.len()];
        let resp = http()
            .post(replica.url(&format!("/api/v1/connections/{conn}/queries")))
            .bearer_auth(&token)
            .json(&json!({"statement": crate::queries::TRIPS}))
            .sent()
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "round {round}: a query failed"
        );
    }
    storming.store(false, Ordering::Release);
    let runs = rotations.await.unwrap();
    let c = s.ws.emu.counters();
    assert_eq!(
        (c.token_calls_refresh_token, c.reuse_detections),
        (rounds, 0),
        "one refresh per expiry, no rotated token reused, while {runs} rotation(s) ran"
    );

    // The previous master key is no longer needed, and every ciphertext is under the
    // org's newest data key, sealed (no plaintext).
    let new_only = keyring(NEW, &[]);
    assert_eq!(
        rotation::still_needed(&s.app.store, &new_only)
            .await
            .unwrap(),
        vec![]
    );
    let current = s
        .app
        .store
        .current_data_key(&org_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(current.key_id, before.key_id);
    let vended = fresh_on(&states[0], &conn, &user_id, &org_id, 60)
        .await
        .unwrap();
    let secret = vended.token.expose().as_bytes().to_vec();
    let mut sealed = 0;
    for place in PLACES {
        for row in s
            .app
            .store
            .sealed_page(place, &org_id, "", 1000)
            .await
            .unwrap()
        {
            assert_eq!(
                key_id_of(&row.blob).unwrap(),
                current.key_id,
                "{}",
                place.table()
            );
            assert!(!row.blob.windows(secret.len()).any(|w| w == secret));
            sealed += 1;
        }
    }
    assert!(sealed >= 3, "the integration's secret and both tokens");

    // Only the new master key and the newest data key: everything still works.
    sqlx::query("DELETE FROM org_data_keys WHERE key_id <> $1")
        .bind(&current.key_id)
        .execute(&s.app.pool())
        .await
        .unwrap();
    let last = TestApp::spawn_replica_keyed(db, &s.app, new_only).await;
    s.advance(3600 - 120);
    fresh_on(&last.state, &conn, &user_id, &org_id, 60)
        .await
        .expect("a refresh with the new keys only");
    let resp = http()
        .post(last.url(&format!("/api/v1/connections/{conn}/queries")))
        .bearer_auth(&token)
        .json(&json!({"statement": crate::queries::TRIPS}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    eprintln!(
        "key rotation ({:?}): {rounds} storm rounds on 3 replicas, {runs} rotations, 0 failures",
        db.backend
    );
}

/// Every `*_enc` column of the schema is a place a data key rotation re-encrypts.
#[tokio::test]
async fn every_encrypted_column_is_rotated() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND p.name LIKE '%\\_enc' ESCAPE '\\'",
    )
    .fetch_all(&db.store.raw_pool_for_tests())
    .await
    .unwrap();
    assert!(columns.len() >= 6, "{columns:?}");
    for (table, column) in columns {
        assert!(
            PLACES
                .iter()
                .any(|p| p.table() == table && p.column() == column),
            "{table}.{column} holds ciphertexts but is not in store::PLACES"
        );
    }
    db.cleanup().await;
}

/// The race a rotation must lose: it read a credential's tokens, a refresh stored new ones,
/// then it tries to write the old tokens re-encrypted. The write is refused and the
/// refreshed tokens stay (with rotating refresh tokens, the old one is dead).
async fn a_reencryption_never_undoes_a_refresh(db: &TestDb) {
    let policy = TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..TokenPolicy::default()
    };
    let s =
        crate::world::setup_keyed(db, policy, Workspace::start().await, keyring(OLD, &[])).await;
    let (_b, conn) = crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let refresh = PLACES
        .iter()
        .find(|p| p.column() == "refresh_token_enc")
        .unwrap();
    let read = s
        .app
        .store
        .sealed_page(refresh, &s.org.id, "", 10)
        .await
        .unwrap();
    let [stale] = read.as_slice() else {
        panic!("one credential: {read:?}")
    };

    s.advance(3600 - 120);
    fresh_on(&s.app.state, &conn, &user.id, &s.org.id, 60)
        .await
        .unwrap();
    let swapped = s
        .app
        .store
        .swap_sealed(refresh, &stale.id, &stale.blob, b"LG1-not-written")
        .await
        .unwrap();
    assert!(!swapped, "the refreshed token must not be overwritten");
    let now = s
        .app
        .store
        .sealed_page(refresh, &s.org.id, "", 10)
        .await
        .unwrap();
    assert_ne!(now[0].blob, stale.blob);
    assert_ne!(now[0].blob, b"LG1-not-written");
    s.advance(3600 - 120);
    fresh_on(&s.app.state, &conn, &user.id, &s.org.id, 60)
        .await
        .expect("the refreshed refresh token still works");
    assert_eq!(s.ws.emu.counters().reuse_detections, 0);
}

/// `lakegate keys`: a new master key is written, never printed; `retire` refuses while a
/// data key still needs the previous key and agrees after `rotate`; `rotate-data` gives
/// an org a new data key; a ring without the needed key says which setting to fix.
#[test]
fn keys_rotate_and_retire_through_the_binary() {
    use crate::cli::{Cli, stderr, stdout};
    let cli = Cli::new();
    let path = |name: &str| cli.dir.path().join(name).to_str().unwrap().to_owned();
    let (old, new) = (path("old.key"), path("new.key"));
    let keys = |master: &str, previous: &str, args: &[&str]| {
        let mut c = cli.cmd();
        c.env("LAKEGATE_MASTER_KEY_FILE", master)
            .env("LAKEGATE_PREVIOUS_MASTER_KEY_FILES", previous)
            .arg("keys")
            .args(args);
        c.output().unwrap()
    };
    assert!(
        cli.run(&["org", "create", "--slug", "acme", "--name", "Acme"])
            .status
            .success()
    );
    for file in [&old, &new] {
        let out = cli.run(&["keys", "new", "--out", file]);
        assert!(out.status.success(), "{}", stderr(&out));
        let key = std::fs::read_to_string(file).unwrap();
        assert!(
            stdout(&out).starts_with("wrote master key mk-"),
            "{}",
            stdout(&out)
        );
        assert!(!stdout(&out).contains(key.trim()) && !stderr(&out).contains(key.trim()));
    }
    let again = cli.run(&["keys", "new", "--out", &old]);
    assert!(
        !again.status.success(),
        "an existing key file is never overwritten"
    );

    let out = keys(&old, "", &["rotate-data", "--org", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("acme: data key dk-"),
        "{}",
        stdout(&out)
    );

    let out = keys(&new, &old, &["retire"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("wraps 1 data key(s)"),
        "{}",
        stdout(&out)
    );

    let out = keys(&new, &old, &["rotate"]);
    assert!(
        stdout(&out).contains("1 data key(s) re-wrapped"),
        "{}",
        stdout(&out)
    );
    let out = keys(&new, &old, &["retire"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no longer needed"),
        "{}",
        stdout(&out)
    );

    let out = keys(&new, "", &["rotate-data", "--all", "--batch", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = keys(&old, "", &["rotate-data", "--org", "acme"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("previous_master_key_files"),
        "{}",
        stderr(&out)
    );
    let out = keys(&new, "", &["rotate-data"]);
    assert_eq!(out.status.code(), Some(2), "--org or --all is required");
}
