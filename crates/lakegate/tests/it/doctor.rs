//! `lakegate doctor`: on a healthy installation every check passes; a server clock off the
//! database's or the vendor's, a master key that does not unwrap the org keys, a client
//! secret the vendor no longer accepts, or a redirect URL the client does not know each
//! fail with their own line. On both backends.

use std::sync::Arc;

use lakegate::doctor::{self, Finding};
use lakegate::integrations::service::IntegrationService;
use lakegate::integrations::verify::Outcome;

use crate::world::{Setup, setup};

crate::on_each_backend!(each_check_passes_on_a_healthy_installation_and_fails_on_its_own_problem);

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
