//! The store contract: every store method behaves the same on SQLite and PostgreSQL.

use lakegate::accounts::Role;
use lakegate::store::{
    AuditFilter, Backend, NewApiToken, NewAuditEvent, NewUser, QueryFilter, QueryOutcome, QueryRow,
    QueryState, SessionRow, StoreError,
};

use crate::harness::TestDb;

crate::on_both_backends!(
    migrations_apply_to_an_empty_database_and_are_idempotent,
    org_slugs_are_unique,
    user_emails_are_unique_per_org_only,
    users_of_another_org_are_not_found,
    disabling_a_user_ends_their_sessions,
    deleting_a_user_removes_their_sessions_and_tokens,
    sessions_are_found_by_hash_touched_and_swept,
    api_tokens_are_found_by_hash_listed_and_revoked_by_owner_only,
    audit_filters_by_org_time_action_actor_and_limit,
    audit_log_refuses_update_and_delete,
    count_admins_ignores_disabled_admins,
    queries_are_private_finish_once_and_unfinished_ones_are_found,
);

async fn org(db: &TestDb, slug: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    db.store.create_org(&id, slug, slug, 1).await.unwrap();
    id
}

async fn user(db: &TestDb, org_id: &str, email: &str, role: Role) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    db.store
        .create_user(NewUser {
            id: &id,
            org_id,
            email,
            display_name: "X",
            role,
            password_hash: Some("h"),
            now: 1,
            external_id: None,
        })
        .await
        .unwrap();
    id
}

fn session(user_id: &str, hash: &str, last_seen: i64, expires: i64) -> SessionRow {
    SessionRow {
        id_hash: hash.into(),
        user_id: user_id.into(),
        csrf_token: "c".into(),
        created_at: 0,
        last_seen_at: last_seen,
        expires_at: expires,
    }
}

async fn token(db: &TestDb, user_id: &str, hash: &str, created: i64) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    db.store
        .create_api_token(NewApiToken {
            id: &id,
            user_id,
            name: "n",
            token_hash: hash,
            prefix: "lgp_x",
            scopes: "admin",
            now: created,
            expires_at: created + 100,
        })
        .await
        .unwrap();
    id
}

async fn migrations_apply_to_an_empty_database_and_are_idempotent(_: &TestDb) {
    // The macro hands us a migrated store; this test wants an empty one of the same kind.
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::empty(backend).await else {
            continue;
        };
        assert!(
            !db.store.is_ready().await,
            "{backend:?}: an empty database is not ready"
        );
        db.store.migrate().await.unwrap();
        assert!(db.store.is_ready().await, "{backend:?}");
        db.store.migrate().await.unwrap();
        assert!(db.store.is_ready().await, "{backend:?}");
        db.cleanup().await;
    }
}

async fn org_slugs_are_unique(db: &TestDb) {
    let id = org(db, "acme").await;
    let err = db
        .store
        .create_org("other-id", "acme", "Acme 2", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.store.org_by_slug("acme").await.unwrap().unwrap().id, id);
    assert!(matches!(db.store.org_by_slug("nope").await, Ok(None)));
    org(db, "beta").await;
    let slugs: Vec<_> = db
        .store
        .list_orgs()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.slug)
        .collect();
    assert_eq!(slugs, ["acme", "beta"]);
}

async fn user_emails_are_unique_per_org_only(db: &TestDb) {
    let a = org(db, "a-org").await;
    let b = org(db, "b-org").await;
    user(db, &a, "x@example.com", Role::Editor).await;
    let err = db
        .store
        .create_user(NewUser {
            id: "dup",
            org_id: &a,
            email: "x@example.com",
            display_name: "X",
            role: Role::Viewer,
            password_hash: None,
            now: 1,
            external_id: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    user(db, &b, "x@example.com", Role::Viewer).await;
    let (u, hash) = db
        .store
        .user_for_login(&a, "x@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u.role, hash.as_deref()), (Role::Editor, Some("h")));
}

async fn users_of_another_org_are_not_found(db: &TestDb) {
    let a = org(db, "a-org").await;
    let b = org(db, "b-org").await;
    let u = user(db, &a, "x@example.com", Role::Editor).await;
    assert!(matches!(db.store.user_in_org(&b, &u).await, Ok(None)));
    assert!(matches!(db.store.delete_user(&b, &u).await, Ok(false)));
    let (found, o) = db.store.user_with_org(&u).await.unwrap().unwrap();
    assert_eq!((found.id, o.id), (u, a));
}

async fn disabling_a_user_ends_their_sessions(db: &TestDb) {
    let a = org(db, "a-org").await;
    let u = user(db, &a, "x@example.com", Role::Editor).await;
    db.store
        .create_session(&session(&u, "s1", 0, 100))
        .await
        .unwrap();
    let mut found = db.store.user_in_org(&a, &u).await.unwrap().unwrap();
    found.role = Role::Viewer;
    assert!(db.store.update_user(&found, 5).await.unwrap());
    assert!(
        db.store.session("s1").await.unwrap().is_some(),
        "a role change keeps the session"
    );
    found.disabled = true;
    assert!(db.store.update_user(&found, 6).await.unwrap());
    let after = db.store.user_in_org(&a, &u).await.unwrap().unwrap();
    assert!(after.disabled);
    assert_eq!(after.role, Role::Viewer);
    assert!(matches!(db.store.session("s1").await, Ok(None)));
}

async fn deleting_a_user_removes_their_sessions_and_tokens(db: &TestDb) {
    let a = org(db, "a-org").await;
    let u = user(db, &a, "x@example.com", Role::Editor).await;
    db.store
        .create_session(&session(&u, "s1", 0, 100))
        .await
        .unwrap();
    token(db, &u, "th", 0).await;
    assert!(db.store.delete_user(&a, &u).await.unwrap());
    assert!(matches!(db.store.session("s1").await, Ok(None)));
    assert!(matches!(db.store.api_token_by_hash("th").await, Ok(None)));
}

async fn sessions_are_found_by_hash_touched_and_swept(db: &TestDb) {
    let a = org(db, "a-org").await;
    let u = user(db, &a, "x@example.com", Role::Editor).await;
    db.store
        .create_session(&session(&u, "live", 0, 1000))
        .await
        .unwrap();
    db.store
        .create_session(&session(&u, "idle", 0, 1000))
        .await
        .unwrap();
    db.store
        .create_session(&session(&u, "old", 0, 50))
        .await
        .unwrap();
    db.store.touch_session("live", 90).await.unwrap();
    assert_eq!(
        db.store
            .session("live")
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        90
    );
    let swept = db.store.delete_stale_sessions(100, 50).await.unwrap();
    assert_eq!(swept, 2);
    assert!(db.store.session("live").await.unwrap().is_some());
    db.store.delete_session("live").await.unwrap();
    assert!(matches!(db.store.session("live").await, Ok(None)));
}

async fn api_tokens_are_found_by_hash_listed_and_revoked_by_owner_only(db: &TestDb) {
    let a = org(db, "a-org").await;
    let u = user(db, &a, "x@example.com", Role::Editor).await;
    let other = user(db, &a, "y@example.com", Role::Editor).await;
    let t1 = token(db, &u, "h1", 10).await;
    let t2 = token(db, &u, "h2", 20).await;
    let found = db.store.api_token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.user_id.as_str()),
        (t1.as_str(), u.as_str())
    );
    let listed: Vec<_> = db
        .store
        .list_api_tokens(&u)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [t2.clone(), t1.clone()], "newest first");
    assert!(matches!(
        db.store.revoke_api_token(&other, &t1, 30).await,
        Ok(None)
    ));
    let revoked = db
        .store
        .revoke_api_token(&u, &t1, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(30));
    assert!(
        matches!(db.store.revoke_api_token(&u, &t1, 31).await, Ok(None)),
        "revoking twice"
    );
    db.store.touch_api_token("h2", &t2, 40).await.unwrap();
    assert_eq!(
        db.store
            .api_token_by_hash("h2")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(40)
    );
    let dup = db
        .store
        .create_api_token(NewApiToken {
            id: "x",
            user_id: &u,
            name: "n",
            token_hash: "h2",
            prefix: "p",
            scopes: "admin",
            now: 1,
            expires_at: 2,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
}

fn event(org: &str, at: i64, actor: &str, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        at,
        org_id: Some(org.into()),
        actor: actor.into(),
        action: action.into(),
        target: Some("t".into()),
        outcome: "success".into(),
        client_ip: Some("127.0.0.1".into()),
        request_id: None,
        details: "{}".into(),
    }
}

async fn audit_filters_by_org_time_action_actor_and_limit(db: &TestDb) {
    for (at, actor, action) in [
        (10, "cli", "org.create"),
        (20, "user:1", "user.create"),
        (30, "user:2", "user.create"),
    ] {
        db.store
            .append_audit(&event("o1", at, actor, action))
            .await
            .unwrap();
    }
    db.store
        .append_audit(&event("o2", 40, "user:9", "user.create"))
        .await
        .unwrap();
    let all = |f: AuditFilter| async move { db.store.list_audit("o1", &f).await.unwrap() };
    let base = AuditFilter {
        limit: 100,
        ..Default::default()
    };
    let every = all(base.clone()).await;
    assert_eq!(
        every.iter().map(|e| e.at).collect::<Vec<_>>(),
        [30, 20, 10],
        "own org only, newest first"
    );
    assert_eq!(
        all(AuditFilter {
            since: Some(20),
            ..base.clone()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        all(AuditFilter {
            action: Some("user.create".into()),
            ..base.clone()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        all(AuditFilter {
            actor: Some("cli".into()),
            ..base.clone()
        })
        .await
        .len(),
        1
    );
    assert_eq!(
        all(AuditFilter {
            limit: 1,
            ..base.clone()
        })
        .await
        .len(),
        1
    );
    assert!(
        all(AuditFilter {
            actor: Some("user:9".into()),
            ..base.clone()
        })
        .await
        .is_empty()
    );
    // A user's events: what they did (actor `user:<id>`) and what was done to them (target).
    let mut to_user_2 = event("o1", 50, "cli", "user.update");
    to_user_2.target = Some("2".into());
    db.store.append_audit(&to_user_2).await.unwrap();
    let ats = |rows: Vec<lakegate::store::AuditRow>| rows.iter().map(|e| e.at).collect::<Vec<_>>();
    let by_user = all(AuditFilter {
        user_id: Some("2".into()),
        ..base.clone()
    })
    .await;
    assert_eq!(ats(by_user), [50, 30]);
    let by_target = all(AuditFilter {
        target: Some("2".into()),
        ..base.clone()
    })
    .await;
    assert_eq!(ats(by_target), [50]);
    // Pages: everything older than the last id seen.
    let newest = all(AuditFilter {
        limit: 2,
        ..base.clone()
    })
    .await;
    assert_eq!(ats(newest.clone()), [50, 30]);
    let older = all(AuditFilter {
        before: Some(newest[1].id),
        ..base
    })
    .await;
    assert_eq!(ats(older), [20, 10]);
}

async fn audit_log_refuses_update_and_delete(db: &TestDb) {
    db.store
        .append_audit(&event("o1", 10, "cli", "org.create"))
        .await
        .unwrap();
    let pool = db.store.raw_pool_for_tests();
    assert!(
        sqlx::query("UPDATE audit_events SET actor = 'forged'")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_events")
            .execute(&pool)
            .await
            .is_err()
    );
    let rows = db
        .store
        .list_audit(
            "o1",
            &AuditFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "cli");
}

async fn count_admins_ignores_disabled_admins(db: &TestDb) {
    let a = org(db, "a-org").await;
    let u1 = user(db, &a, "a1@example.com", Role::Admin).await;
    user(db, &a, "a2@example.com", Role::Admin).await;
    user(db, &a, "e@example.com", Role::Editor).await;
    assert_eq!(db.store.count_admins(&a).await.unwrap(), 2);
    let mut admin = db.store.user_in_org(&a, &u1).await.unwrap().unwrap();
    admin.disabled = true;
    assert!(db.store.update_user(&admin, 2).await.unwrap());
    assert_eq!(db.store.count_admins(&a).await.unwrap(), 1);
}

fn query(id: &str, org_id: &str, user_id: &str, submitted_at: i64) -> QueryRow {
    QueryRow {
        id: id.into(),
        org_id: org_id.into(),
        user_id: user_id.into(),
        connection_id: "c".into(),
        statement_id: format!("s-{id}"),
        statement: "SELECT 1".into(),
        state: QueryState::Pending,
        row_limit: Some(10),
        timeout_seconds: 300,
        submitted_at,
        finished_at: None,
        row_count: None,
        error_code: None,
        error_message: None,
        ran_as_connection_id: None,
        ran_as_user_id: None,
    }
}

async fn queries_are_private_finish_once_and_unfinished_ones_are_found(db: &TestDb) {
    let o = org(db, "q").await;
    let alice = user(db, &o, "a@q.test", Role::Editor).await;
    let bob = user(db, &o, "b@q.test", Role::Editor).await;
    for (id, at) in [("q1", 100), ("q2", 200), ("q3", 300)] {
        db.store
            .insert_query(&query(id, &o, &alice, at))
            .await
            .unwrap();
    }
    assert!(db.store.query(&alice, "q1").await.unwrap().is_some());
    assert!(db.store.query(&bob, "q1").await.unwrap().is_none());

    let done = QueryOutcome {
        row_count: Some(1),
        ..QueryOutcome::ended(QueryState::Succeeded, 150)
    };
    assert!(db.store.finish_query("q1", &done).await.unwrap());
    // The first outcome stays.
    let late = QueryOutcome::ended(QueryState::Canceled, 160);
    assert!(!db.store.finish_query("q1", &late).await.unwrap());
    let q1 = db.store.query(&alice, "q1").await.unwrap().unwrap();
    assert_eq!(
        (q1.state.as_str(), q1.row_count, q1.finished_at),
        ("SUCCEEDED", Some(1), Some(150))
    );

    let unfinished: Vec<String> = db
        .store
        .unfinished_queries(250, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(unfinished, ["q2"]);
    let list = |user: String, f: QueryFilter| async move {
        db.store
            .list_queries(&user, &f)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.id)
            .collect::<Vec<String>>()
    };
    let two = QueryFilter {
        limit: 2,
        ..Default::default()
    };
    assert_eq!(list(alice.clone(), two.clone()).await, ["q3", "q2"]);
    let ten = QueryFilter {
        limit: 10,
        ..Default::default()
    };
    assert!(list(bob, ten.clone()).await.is_empty());
    // The next page: older than the last (submitted_at, id) seen.
    let older = QueryFilter {
        before: Some((200, "q2".into())),
        ..ten.clone()
    };
    assert_eq!(list(alice.clone(), older).await, ["q1"]);
    let by_state = QueryFilter {
        state: Some(QueryState::Pending),
        connection_id: Some("c".into()),
        ..ten
    };
    assert_eq!(list(alice, by_state).await, ["q3", "q2"], "q1 succeeded");
}
