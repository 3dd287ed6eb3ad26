//! The store contract of the refresh protocol and the sign-in flow, on SQLite and
//! PostgreSQL: the lease, the fenced write, the move to "sign in again", and the
//! single-use flows and tickets.

use lakegate::accounts::Role;
use lakegate::store::{
    ConnectionRow, CredentialRow, CredentialState, FlowRow, IntegrationRow, IntegrationStatus,
    NewUser, Refreshed, TicketRow,
};

use crate::harness::TestDb;

crate::on_both_backends!(
    a_lease_is_exclusive_until_it_expires_then_anyone_may_take_it,
    only_active_credentials_can_be_leased_and_only_the_owner_releases,
    the_refreshed_write_is_fenced_by_version_lease_and_status,
    a_deleted_or_replaced_credential_refuses_the_refreshed_write,
    reauth_is_marked_once_at_the_version_read,
    a_flow_is_taken_once_with_every_field_intact,
    a_ticket_is_taken_once_with_every_field_intact,
    concurrent_takers_of_one_flow_get_it_once,
    the_store_clock_is_the_database_servers,
    replicas_racing_for_an_orgs_first_data_key_can_read_each_others_secrets,
);

const NOW: i64 = 1_000;

/// An org, a user, an integration, a connection and the user's active credential on it.
struct World {
    org: String,
    user: String,
    connection: String,
    integration: String,
    credential: CredentialRow,
}

async fn world(db: &TestDb) -> World {
    let org = uuid::Uuid::now_v7().to_string();
    db.store.create_org(&org, "o", "O", NOW).await.unwrap();
    let user = uuid::Uuid::now_v7().to_string();
    db.store
        .create_user(NewUser {
            id: &user,
            org_id: &org,
            email: "u@o.test",
            display_name: "U",
            role: Role::Editor,
            password_hash: None,
            now: NOW,
            external_id: None,
        })
        .await
        .unwrap();
    let integration = uuid::Uuid::now_v7().to_string();
    db.store
        .save_integration(&IntegrationRow {
            id: integration.clone(),
            org_id: org.clone(),
            kind: "databricks-oauth".into(),
            host: "h.test".into(),
            client_id: "c".into(),
            client_secret_enc: vec![1],
            scopes: "all-apis offline_access".into(),
            issuer: "https://h.test/oidc".into(),
            authorization_endpoint: "https://h.test/oidc/v1/authorize".into(),
            token_endpoint: "https://h.test/oidc/v1/token".into(),
            generation: 1,
            status: IntegrationStatus::Configured,
            secret_updated_at: NOW,
            created_at: NOW,
            updated_at: NOW,
            updated_by: "t".into(),
            refresh_ttl_minutes: 60,
            absolute_lifetime_minutes: None,
            issuer_in_response: 1,
            default_compute: None,
            connection_id: None,
            setup_warning: None,
        })
        .await
        .unwrap();
    let connection = uuid::Uuid::now_v7().to_string();
    db.store
        .create_connection(&ConnectionRow {
            id: connection.clone(),
            org_id: org.clone(),
            owner_id: user.clone(),
            name: "c".into(),
            provider: "databricks".into(),
            auth: "oauth-u2m".into(),
            integration_id: integration.clone(),
            host: "h.test".into(),
            warehouse_id: None,
            catalog: None,
            schema_name: None,
            role: None,
            location: None,
            shared: false,
            token_vending: false,
            fallback_connection_id: None,
            created_at: NOW,
            updated_at: NOW,
        })
        .await
        .unwrap();
    let credential = credential_row(&org, &user, &connection, &integration, b"a1", b"r1");
    db.store.put_credential(&credential).await.unwrap();
    let credential = db
        .store
        .credential(&connection, &user)
        .await
        .unwrap()
        .unwrap();
    World {
        org,
        user,
        connection,
        integration,
        credential,
    }
}

fn credential_row(
    org: &str,
    user: &str,
    connection: &str,
    integration: &str,
    access: &[u8],
    refresh: &[u8],
) -> CredentialRow {
    CredentialRow {
        id: uuid::Uuid::now_v7().to_string(),
        connection_id: connection.into(),
        user_id: user.into(),
        org_id: org.into(),
        integration_id: integration.into(),
        integration_generation: 1,
        host: "h.test".into(),
        access_token_enc: access.to_vec(),
        refresh_token_enc: refresh.to_vec(),
        scopes: "all-apis offline_access".into(),
        databricks_user_id: "1".into(),
        databricks_user_name: "u".into(),
        access_expires_at: NOW + 3600,
        refresh_issued_at: NOW,
        status: CredentialState::Active,
        status_reason: None,
        version: 1,
        created_at: NOW,
        updated_at: NOW,
        lease_until: None,
        session_started_at: NOW,
        last_used_at: None,
        last_refresh_at: None,
        warned_at: None,
        failures: 0,
        next_attempt_at: None,
    }
}

/// Whether `owner` got the lease on credential `id` (until `until`, judged at `now`).
async fn leased(db: &TestDb, id: &str, owner: &str, until: i64, now: i64) -> bool {
    db.store
        .try_lease(id, owner, until, now)
        .await
        .unwrap()
        .is_some()
}

/// Whether the refreshed write of `c` by `owner` at `version` went through.
async fn wrote(db: &TestDb, c: &CredentialRow, owner: &str, version: i64) -> bool {
    db.store
        .store_refreshed(&refreshed(c, owner, version))
        .await
        .unwrap()
}

/// The world's user's credential as stored now.
async fn current(db: &TestDb, w: &World) -> Option<CredentialRow> {
    db.store.credential(&w.connection, &w.user).await.unwrap()
}

fn refreshed<'a>(c: &'a CredentialRow, owner: &'a str, version: i64) -> Refreshed<'a> {
    Refreshed {
        id: &c.id,
        version,
        lease_owner: owner,
        access_token_enc: b"a2",
        refresh_token_enc: b"r2",
        access_expires_at: NOW + 7200,
        refresh_issued_at: NOW + 10,
        now: NOW + 10,
    }
}

async fn a_lease_is_exclusive_until_it_expires_then_anyone_may_take_it(db: &TestDb) {
    let w = world(db).await;
    let id = &w.credential.id;
    let held = db.store.try_lease(id, "A", NOW + 20, NOW).await.unwrap();
    let held = held.expect("a free lease is taken");
    assert_eq!(held.lease_until, Some(NOW + 20));
    assert_eq!(
        held.version, w.credential.version,
        "the row is returned as it is"
    );

    // Another owner is refused while the lease lives, up to its last second.
    for now in [NOW, NOW + 19] {
        assert!(!leased(db, id, "B", now + 20, now).await);
    }
    // Its holder may extend it (one process, one single-flight per credential).
    assert!(leased(db, id, "A", NOW + 25, NOW + 5).await);
    assert!(!leased(db, id, "B", NOW + 44, NOW + 24).await);
    // Once it has expired, another owner takes it over, and the first is then refused.
    let taken = db
        .store
        .try_lease(id, "B", NOW + 45, NOW + 25)
        .await
        .unwrap();
    assert_eq!(taken.unwrap().lease_until, Some(NOW + 45));
    assert!(!leased(db, id, "A", NOW + 46, NOW + 26).await);
}

async fn only_active_credentials_can_be_leased_and_only_the_owner_releases(db: &TestDb) {
    let w = world(db).await;
    let id = &w.credential.id;
    assert!(!leased(db, "no-such-id", "A", NOW + 20, NOW).await);
    db.store
        .try_lease(id, "A", NOW + 20, NOW)
        .await
        .unwrap()
        .unwrap();
    // Not the owner: the lease stays.
    db.store.release_lease(id, "B").await.unwrap();
    assert!(!leased(db, id, "B", NOW + 20, NOW).await);
    db.store.release_lease(id, "A").await.unwrap();
    assert!(leased(db, id, "B", NOW + 20, NOW).await);
    db.store.release_lease(id, "B").await.unwrap();

    assert!(
        db.store
            .mark_reauth(id, w.credential.version, "dead", NOW)
            .await
            .unwrap()
    );
    assert!(
        !leased(db, id, "A", NOW + 20, NOW).await,
        "a credential that needs a new sign-in is never refreshed"
    );
}

async fn the_refreshed_write_is_fenced_by_version_lease_and_status(db: &TestDb) {
    let w = world(db).await;
    let c = &w.credential;
    let v = c.version;
    // Without the lease: refused.
    assert!(!wrote(db, c, "A", v).await);
    db.store
        .try_lease(&c.id, "A", NOW + 20, NOW)
        .await
        .unwrap()
        .unwrap();
    // With the lease but another owner's name or an old version: refused.
    assert!(!wrote(db, c, "B", v).await);
    assert!(!wrote(db, c, "A", v - 1).await);
    let unchanged = current(db, &w).await.unwrap();
    assert_eq!(unchanged.refresh_token_enc, b"r1");

    assert!(wrote(db, c, "A", v).await);
    let now = current(db, &w).await.unwrap();
    assert_eq!(
        (
            now.access_token_enc.as_slice(),
            now.refresh_token_enc.as_slice(),
            now.access_expires_at,
            now.refresh_issued_at,
            now.version,
            now.lease_until,
            now.failures,
            now.last_refresh_at,
        ),
        (
            &b"a2"[..],
            &b"r2"[..],
            NOW + 7200,
            NOW + 10,
            v + 1,
            None,
            0,
            Some(NOW + 10)
        )
    );
    // The same write again (a retry, or a second writer at the old version): refused.
    assert!(!wrote(db, c, "A", v).await);
}

async fn a_deleted_or_replaced_credential_refuses_the_refreshed_write(db: &TestDb) {
    let w = world(db).await;
    let c = w.credential.clone();
    db.store
        .try_lease(&c.id, "A", NOW + 20, NOW)
        .await
        .unwrap()
        .unwrap();

    // The user signs in again while the refresh is in flight: a new row, new tokens.
    let again = credential_row(&w.org, &w.user, &w.connection, &w.integration, b"a9", b"r9");
    db.store.put_credential(&again).await.unwrap();
    assert!(!wrote(db, &c, "A", c.version).await);
    let kept = current(db, &w).await.unwrap();
    assert_eq!(
        (kept.id.as_str(), kept.refresh_token_enc.as_slice()),
        (again.id.as_str(), &b"r9"[..])
    );
    assert_eq!(kept.lease_until, None, "a new sign-in clears the old lease");

    // The user disconnects while a refresh of the new row is in flight: nothing comes back.
    db.store
        .try_lease(&kept.id, "A", NOW + 20, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        db.store
            .delete_credential(&w.connection, &w.user)
            .await
            .unwrap()
    );
    assert!(!wrote(db, &kept, "A", kept.version).await);
    assert!(
        !db.store
            .mark_reauth(&kept.id, kept.version, "x", NOW)
            .await
            .unwrap()
    );
    assert!(current(db, &w).await.is_none());
}

async fn reauth_is_marked_once_at_the_version_read(db: &TestDb) {
    let w = world(db).await;
    let c = &w.credential;
    db.store
        .try_lease(&c.id, "A", NOW + 20, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !db.store
            .mark_reauth(&c.id, c.version + 1, "stale", NOW)
            .await
            .unwrap()
    );
    assert!(
        db.store
            .mark_reauth(&c.id, c.version, "invalid_grant", NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .mark_reauth(&c.id, c.version, "again", NOW + 2)
            .await
            .unwrap()
    );
    let after = current(db, &w).await.unwrap();
    assert_eq!(
        (
            after.status,
            after.status_reason.as_deref(),
            after.version,
            after.lease_until,
            after.updated_at
        ),
        (
            CredentialState::ReauthRequired,
            Some("invalid_grant"),
            c.version + 1,
            None,
            NOW + 1
        )
    );
    // A refreshed write at the version read loses to the reauth.
    assert!(!wrote(db, c, "A", c.version).await);
}

fn flow(w: &World, state_hash: &str) -> FlowRow {
    FlowRow {
        state_hash: state_hash.into(),
        browser_hash: "b".repeat(64),
        user_id: w.user.clone(),
        org_id: w.org.clone(),
        connection_id: w.connection.clone(),
        integration_id: w.integration.clone(),
        integration_generation: 7,
        issuer: "https://h.test/oidc".into(),
        token_endpoint: "https://h.test/oidc/v1/token".into(),
        verifier_enc: vec![0, 1, 2, 255],
        return_path: "/connections/x?y=1".into(),
        return_url: Some("https://app.example.com/done?x=1".into()),
        expires_at: NOW + 600,
        created_at: NOW,
    }
}

async fn a_flow_is_taken_once_with_every_field_intact(db: &TestDb) {
    let w = world(db).await;
    let f = flow(&w, "s1");
    db.store.create_flow(&f).await.unwrap();
    assert!(
        db.store.create_flow(&f).await.is_err(),
        "one flow per state"
    );
    assert!(db.store.take_flow("s2").await.unwrap().is_none());
    let got = db.store.take_flow("s1").await.unwrap().unwrap();
    assert_eq!(format!("{got:?}"), format!("{f:?}"));
    assert!(db.store.take_flow("s1").await.unwrap().is_none());
}

async fn a_ticket_is_taken_once_with_every_field_intact(db: &TestDb) {
    let w = world(db).await;
    let t = TicketRow {
        ticket_hash: "t1".into(),
        user_id: w.user.clone(),
        connection_id: w.connection.clone(),
        return_path: "/connections".into(),
        return_url: Some("http://127.0.0.1:3000/back".into()),
        expires_at: NOW + 60,
    };
    db.store.create_ticket(&t).await.unwrap();
    assert!(db.store.take_ticket("t2").await.unwrap().is_none());
    let got = db.store.take_ticket("t1").await.unwrap().unwrap();
    assert_eq!(format!("{got:?}"), format!("{t:?}"));
    assert!(db.store.take_ticket("t1").await.unwrap().is_none());

    // Stale ones are swept; live ones stay.
    db.store
        .create_ticket(&TicketRow {
            ticket_hash: "t3".into(),
            ..t.clone()
        })
        .await
        .unwrap();
    db.store.create_flow(&flow(&w, "s3")).await.unwrap();
    db.store.delete_stale_flows(NOW + 59).await.unwrap();
    assert!(db.store.take_ticket("t3").await.unwrap().is_some());
    db.store
        .create_ticket(&TicketRow {
            ticket_hash: "t4".into(),
            ..t
        })
        .await
        .unwrap();
    db.store.delete_stale_flows(NOW + 600).await.unwrap();
    assert!(db.store.take_ticket("t4").await.unwrap().is_none());
    assert!(db.store.take_flow("s3").await.unwrap().is_none());
}

async fn concurrent_takers_of_one_flow_get_it_once(db: &TestDb) {
    let w = world(db).await;
    for round in 0..20 {
        let state = format!("race{round}");
        db.store.create_flow(&flow(&w, &state)).await.unwrap();
        let takers = (0..4).map(|_| {
            let (store, state) = (db.store.clone(), state.clone());
            tokio::spawn(async move { store.take_flow(&state).await.unwrap().is_some() })
        });
        let mut won = 0;
        for t in takers {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "round {round}: exactly one taker gets the flow");
    }
}

async fn the_store_clock_is_the_database_servers(db: &TestDb) {
    // Same machine, so the database's clock and ours agree to within the test's own run time.
    let ours = || lakegate::clock::Clock::now(&lakegate::clock::SystemClock);
    let before = ours();
    let store = db.store.clock().await.unwrap();
    let after = ours();
    assert!(
        (before - 1..=after + 1).contains(&store),
        "{before} {store} {after}"
    );
}

/// Two replicas (own pools, own key-ring caches, one master key) seal secrets for a new
/// org at the same time: whichever data keys they create, each opens what the other
/// sealed, also after a cache miss.
async fn replicas_racing_for_an_orgs_first_data_key_can_read_each_others_secrets(db: &TestDb) {
    use lakegate::crypto::envelope::{Binding, Keyring};
    use lakegate::crypto::master_key::MasterKeySource;
    let w = world(db).await;
    let key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        rand::random::<[u8; 32]>(),
    );
    let ring = || {
        let (master, _) = MasterKeySource::Value(lakegate::secret::Secret::new(key.clone()))
            .load(false)
            .unwrap();
        std::sync::Arc::new(Keyring::new(master))
    };
    let other_store = lakegate::store::Store::connect(&db.url).await.unwrap();
    let replicas = [(db.store.clone(), ring()), (other_store, ring())];
    let mut sealed = Vec::new();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, ring) = replicas[i % 2].clone();
            let org = w.org.clone();
            tokio::spawn(async move {
                let row = format!("row{i}");
                let binding = Binding {
                    org_id: &org,
                    table: "t",
                    row_id: &row,
                    column: "c",
                };
                let blob = ring
                    .seal(&store, binding, row.as_bytes(), NOW)
                    .await
                    .unwrap();
                (row, blob)
            })
        })
        .collect();
    for t in tasks {
        sealed.push(t.await.unwrap());
    }
    for (row, blob) in &sealed {
        for (store, _) in &replicas {
            // A fresh cache each time: the data key is read back from the store.
            let binding = Binding {
                org_id: &w.org,
                table: "t",
                row_id: row,
                column: "c",
            };
            let plain = ring().open(store, binding, blob).await.unwrap();
            assert_eq!(plain.as_slice(), row.as_bytes());
        }
    }
}
