//! `lakegate doctor`: on a healthy installation every check passes; a server clock off the
//! database's or the vendor's, a master key that does not unwrap the org keys, a client
//! secret the vendor no longer accepts, or a redirect URL the client does not know each
//! fail with their own line. On both backends.

use std::sync::Arc;

use lakegate::doctor::{self, Finding};
use lakegate::integrations::service::IntegrationService;
use lakegate::integrations::verify::Outcome;

use crate::world::{Setup, setup};

crate::on_each_backend!(
    each_check_passes_on_a_healthy_installation_and_fails_on_its_own_problem,
    shared_identities_are_proven_again_and_a_revoked_one_fails,
    data_keys_under_a_previous_master_key_are_a_warning,
);

/// A doctor as the CLI builds it, on the app's store, egress and clock, with `keyring`.
fn service(
    s: &Setup,
    keyring: Arc<lakegate::crypto::envelope::Keyring>,
    public: &str,
) -> IntegrationService {
    IntegrationService::new(
        s.app.store.clone(),
        keyring,
        s.app.state.services.tokens.egress().clone(),
        Arc::new(s.app.clock.clone()),
        Some(public.parse().unwrap()),
    )
}

fn failed<'a>(findings: &'a [Finding], subject: &str, name: &str) -> Option<&'a str> {
    findings
        .iter()
        .find(|f| f.subject == subject && f.check.name == name)
        .and_then(|f| match &f.check.outcome {
            Outcome::Fail(why) => Some(why.as_str()),
            _ => None,
        })
}

async fn each_check_passes_on_a_healthy_installation_and_fails_on_its_own_problem() {
    let s = setup().await;
    let store = &s.app.store;
    let keyring = s.app.state.keyring.clone();
    let healthy = service(&s, keyring.clone(), &s.app.base);
    // The database's clock is the real one; the app's is a test clock.
    let db_now = store.clock().await.unwrap();
    let findings = doctor::run(store, &keyring, &healthy, db_now).await;
    let lines: Vec<String> = findings.iter().map(Finding::line).collect();
    assert!(findings.iter().all(|f| !f.failed()), "{lines:#?}");
    let integration = "acme/databricks-oauth-u2m";
    for name in ["discovery", "client", "redirect URL", "clock"] {
        assert!(
            findings
                .iter()
                .any(|f| f.subject == integration && f.check.name == name),
            "{name} is checked: {lines:#?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("ok    master key")),
        "{lines:#?}"
    );

    // This server's clock a minute off the database's.
    let off = doctor::run(store, &keyring, &healthy, db_now + 60).await;
    assert_off(failed(&off, "store", "clock"), 60, "ahead of");

    // Another master key: no org key unwraps, and no client secret can be read.
    let other = lakegate::testkit::random_keyring();
    let wrong = doctor::run(
        store,
        &other,
        &service(&s, other.clone(), &s.app.base),
        db_now,
    )
    .await;
    assert!(failed(&wrong, "master key", "org data keys").is_some());
    assert!(
        failed(&wrong, integration, "client")
            .unwrap()
            .contains("cannot be read")
    );

    // Lakegate's public URL is not the one registered with the client.
    let elsewhere = doctor::run(
        store,
        &keyring,
        &service(&s, keyring.clone(), "https://elsewhere.example"),
        db_now,
    )
    .await;
    assert!(failed(&elsewhere, integration, "redirect URL").is_some());

    // The vendor rotated the client's secret: the stored one is refused.
    s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    let rotated = doctor::run(store, &keyring, &healthy, db_now).await;
    assert!(failed(&rotated, integration, "client").is_some());

    // The vendor's clock ten minutes ahead of this server's.
    s.ws.emu.advance_clock(600);
    let skewed = doctor::run(store, &keyring, &healthy, db_now).await;
    assert_off(failed(&skewed, integration, "clock"), 600, "behind");
}

/// A connection's own service principal and personal access token are proven against the
/// workspace again; once the principal's secrets are deleted and the token revoked, each
/// fails with its own line.
async fn shared_identities_are_proven_again_and_a_revoked_one_fails() {
    use lakegate::accounts::Role;
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let (app_id, secret) = s.ws.emu.create_service_principal("reporting");
    crate::shared_identities::m2m(&s, &ed, &app_id, &secret, false).await;
    let (token, token_id) = s.ws.emu.create_pat("alice@example.com", None);
    let (status, body) = crate::shared_identities::send(
        &ed,
        reqwest::Method::POST,
        "/api/v1/connections",
        serde_json::json!({"name": "Alice's token", "provider": "databricks", "auth": "pat",
               "host": s.ws.host(), "token": token}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let tokens = &s.app.state.services.tokens;
    let healthy = doctor::shared_identities(&s.app.store, tokens).await;
    let lines: Vec<String> = healthy.iter().map(Finding::line).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("ok    acme/connection \"Reporting\": credentials"),
        "{lines:#?}"
    );
    assert!(lines[1].contains("runs as alice@example.com"), "{lines:#?}");

    assert!(s.ws.emu.delete_principal_secrets(&app_id));
    assert!(s.ws.emu.delete_pat(&token_id));
    let revoked = doctor::shared_identities(&s.app.store, tokens).await;
    assert!(revoked.iter().all(Finding::failed), "{revoked:#?}");
    assert!(
        !revoked
            .iter()
            .any(|f| f.line().contains(&secret) || f.line().contains(&token)),
        "no secret in a finding"
    );
}

/// Mid-rotation (data keys still wrapped by a previous master key the keyring reads) the
/// master key check warns and says what to run; after `keys rotate` it is ok again.
async fn data_keys_under_a_previous_master_key_are_a_warning() {
    use lakegate::crypto::envelope::Keyring;
    use lakegate::testkit::master_key;
    let app = crate::harness::TestApp::start().await;
    let org = app.org("acme").await;
    let (old, new) = ([3u8; 32], [7u8; 32]);
    Keyring::new(master_key(old))
        .add_data_key(&app.store, &org.id, 0)
        .await
        .unwrap();
    let ring = Arc::new(Keyring::with_previous(
        master_key(new),
        vec![master_key(old)],
    ));
    let integrations = IntegrationService::new(
        app.store.clone(),
        ring.clone(),
        app.state.services.tokens.egress().clone(),
        Arc::new(app.clock.clone()),
        None,
    );
    let db_now = app.store.clock().await.unwrap();
    let master_line = async || {
        doctor::run(&app.store, &ring, &integrations, db_now)
            .await
            .iter()
            .find(|f| f.subject == "master key")
            .map(Finding::line)
            .unwrap()
    };
    let line = master_line().await;
    assert!(line.starts_with("warn  master key"), "{line}");
    assert!(
        line.contains("1 of them by a previous master key: run `lakegate keys rotate`"),
        "{line}"
    );
    let quiet = &mut lakegate::crypto::rotation::Quiet;
    lakegate::crypto::rotation::rewrap_all(&app.store, &ring, quiet, 0)
        .await
        .unwrap();
    assert!(master_line().await.starts_with("ok    master key"));
}

/// A clock finding that names a difference of about `seconds` (real time passes between
/// reading the database's clock and checking it; the emulator's clock runs in real time
/// from where the test set it).
fn assert_off(why: Option<&str>, seconds: i64, direction: &str) {
    let why = why.expect("the clock check fails");
    let n: i64 = why
        .strip_prefix("this server's clock is ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no difference in {why:?}"));
    assert!((seconds - 10..=seconds + 10).contains(&n), "{why}");
    assert!(why.contains(&format!(" s {direction} ")), "{why}");
}
