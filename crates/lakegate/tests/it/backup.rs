//! `lakegate backup` and `lakegate restore` (SQLite): a consistent copy taken while
//! Lakegate serves, restored into an empty data directory, where every credential works
//! with the same master key; a restore refuses a non-empty target or a file that is not a
//! Lakegate backup and changes nothing; the commands say the master key is not in the backup.

use std::process::{Command, Output};

use lakegate::auth::Scope;
use lakegate::store::{Backend, Store};
use reqwest::StatusCode;

use crate::harness::{Sent, TestApp, TestDb, http};
use crate::world::setup_on;

fn lakegate(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lakegate"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn vend(app: &TestApp, token: &str, conn: &str) -> (StatusCode, String) {
    let resp = http()
        .post(app.url(&format!("/api/v1/connections/{conn}/access-token")))
        .bearer_auth(token)
        .sent()
        .await;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        body["access_token"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_with_every_credential_working() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let s = setup_on(&db, warehouse_emulator::TokenPolicy::default()).await;
    let (b, conn) = crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let (token, _) = s.app.token(&user, &[Scope::TokensVend]).await;
    let (status, vended) = vend(&s.app, &token, &conn).await;
    assert_eq!(status, StatusCode::OK);
    drop(b);

    // The backup, while the app serves.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakegate-backup.db");
    let file_s = file.to_str().unwrap();
    let serving = [("LAKEGATE_DATABASE_URL", db.url.as_str())];
    let out = lakegate(&serving, &["backup", "--out", file_s]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("master key is not in the backup"),
        "{}",
        text(&out)
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let again = lakegate(&serving, &["backup", "--out", file_s]);
    assert!(
        !again.status.success() && text(&again).contains("exists"),
        "{}",
        text(&again)
    );

    // Restored into an empty data directory, it serves the same credential.
    let data = tempfile::tempdir().unwrap();
    let data_s = data.path().to_str().unwrap();
    let restoring = [("LAKEGATE_DATA_DIR", data_s)];
    let out = lakegate(&restoring, &["restore", "--from", file_s]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("master key is not in the backup"));
    let restored_file = data.path().join("lakegate.db");
    let restored = Store::connect(&format!("sqlite://{}", restored_file.display()))
        .await
        .unwrap();
    assert!(restored.is_ready().await, "every migration applied");
    let app = TestApp::spawn_replica_on_store(restored, &s.app).await;
    assert_eq!(vend(&app, &token, &conn).await, (StatusCode::OK, vended));

    // A second restore into the same directory, or from a file that is no backup, changes nothing.
    let before = std::fs::read(&restored_file).unwrap();
    let out = lakegate(&restoring, &["restore", "--from", file_s]);
    assert!(
        !out.status.success() && text(&out).contains("nothing was changed"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&restored_file).unwrap(), before);
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = lakegate(
        &[("LAKEGATE_DATA_DIR", empty.path().to_str().unwrap())],
        &["restore", "--from", junk.to_str().unwrap()],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !empty.path().join("lakegate.db").exists(),
        "nothing was written"
    );

    // A SQLite database that is not Lakegate's is refused too, and nothing is written.
    let other = dir.path().join("other.db");
    let o = Store::connect(&format!("sqlite://{}", other.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&o.raw_pool_for_tests())
        .await
        .unwrap();
    o.close().await;
    let out = lakegate(
        &[("LAKEGATE_DATA_DIR", empty.path().to_str().unwrap())],
        &["restore", "--from", other.to_str().unwrap()],
    );
    assert!(
        text(&out).contains("not a Lakegate backup"),
        "{}",
        text(&out)
    );
    assert!(
        !empty.path().join("lakegate.db").exists(),
        "nothing was written"
    );

    // PostgreSQL has its own tools; the command says which.
    let pg = [(
        "LAKEGATE_DATABASE_URL",
        "postgres://lakegate@127.0.0.1:5432/lakegate",
    )];
    let out = lakegate(
        &pg,
        &[
            "backup",
            "--out",
            dir.path().join("pg.db").to_str().unwrap(),
        ],
    );
    assert!(
        !out.status.success() && text(&out).contains("pg_dump"),
        "{}",
        text(&out)
    );
}

mod postgres {
    use super::*;

    /// What docs/OPERATIONS.md tells a PostgreSQL operator to do: `pg_dump` while Lakegate
    /// serves, `pg_restore` into a new database, `lakegate migrate`; every credential then
    /// works with the same master key.
    #[tokio::test]
    async fn a_pg_dump_restores_into_a_new_database_with_every_credential_working() {
        let Some(db) = TestDb::new(Backend::Postgres).await else {
            eprintln!("skipped: LAKEGATE_TEST_DATABASE_URL is not set");
            return;
        };
        let base = crate::test_db::postgres_url().unwrap();
        let schema = db.url.rsplit("search_path]=").next().unwrap().to_owned();
        let s = setup_on(&db, warehouse_emulator::TokenPolicy::default()).await;
        let (_b, conn) =
            crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
        let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
        let (token, _) = s.app.token(&user, &[Scope::TokensVend]).await;
        let (status, vended) = vend(&s.app, &token, &conn).await;
        assert_eq!(status, StatusCode::OK);

        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("lakegate.dump");
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| {
                    panic!("{program} is needed for this test (PostgreSQL's client tools): {e}")
                });
            assert!(out.status.success(), "{program}: {}", text(&out));
        };
        let dump_s = dump.to_str().unwrap();
        run(
            "pg_dump",
            &[
                "--format=custom",
                "--schema",
                &schema,
                "--file",
                dump_s,
                &base,
            ],
        );

        let name = format!("lgrestore_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect(&base).await.unwrap();
        let pool = admin.raw_pool_for_tests();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        let (server, _) = base.rsplit_once('/').unwrap();
        let target = format!("{server}/{name}");
        run("pg_restore", &["--no-owner", "--dbname", &target, dump_s]);
        let url = format!("{target}?options[search_path]={schema}");
        let out = lakegate(&[("LAKEGATE_DATABASE_URL", url.as_str())], &["migrate"]);
        assert!(out.status.success(), "{}", text(&out));

        let restored = Store::connect(&url).await.unwrap();
        assert!(restored.is_ready().await);
        let app = TestApp::spawn_replica_on_store(restored.clone(), &s.app).await;
        assert_eq!(vend(&app, &token, &conn).await, (StatusCode::OK, vended));
        restored.close().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        admin.close().await;
    }
}
