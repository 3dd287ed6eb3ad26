//! The operations guide's promises about metrics: every `lakegate_*` metric that the table
//! of docs/OPERATIONS.md lists or an alerting rule in deploy/prometheus uses is one the
//! registry behind `/metrics` exports, and the table lists them all (a renamed metric would
//! otherwise silence an alert without a sound).

use std::collections::BTreeSet;

use crate::harness::{Sent, TestApp, http};

/// The metric families named in `text` (`lakegate_x_total` and `lakegate_x_bucket` name
/// the family `lakegate_x`).
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("lakegate_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        out.insert(family.to_owned());
    }
    out
}

fn read(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::fs::read_to_string(format!("{root}/{path}")).unwrap()
}

/// Every family, with one sample each: a family prints nothing until it has one.
fn every_family() -> String {
    let m = lakegate::metrics::Metrics::default();
    m.observe("GET", "/healthz", 200, 0.001);
    m.refresh("success", "rotated");
    m.token_call("example.cloud.databricks.com");
    m.time_to_fresh(0.1);
    m.vended();
    m.query_finished("SUCCEEDED");
    m.token_rejected_retry();
    m.webhook_attempt("delivered");
    m.set_credentials(&[lakegate::store::StateCount {
        status: lakegate::store::CredentialState::Active,
        count: 1,
    }]);
    m.render()
}

#[tokio::test]
async fn every_metric_the_guide_and_the_alerts_name_is_exported() {
    // The service's own exposition carries the same registry.
    let app = TestApp::start().await;
    let served = http()
        .get(app.url("/metrics"))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert!(
        served.contains("# TYPE lakegate_tokens_vended counter"),
        "{served}"
    );
    let exported = every_family();
    let families: BTreeSet<String> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    // The guide's metrics table: its rows start with the metric's name.
    let table: String = read("docs/OPERATIONS.md")
        .lines()
        .filter(|l| l.starts_with("| `lakegate_"))
        .collect();
    let guide = named(&table);
    let alerts = named(&read("deploy/prometheus/lakegate-alerts.yml"));
    assert!(families.len() >= 10, "{exported}");
    assert!(alerts.len() >= 4, "{alerts:?}");
    for name in guide.iter().chain(&alerts) {
        assert!(
            families.contains(name),
            "{name} is named but not exported:\n{exported}"
        );
    }
    // And the other way round: the guide lists every exported family.
    for family in &families {
        assert!(
            guide.contains(family),
            "{family} is exported but not in docs/OPERATIONS.md"
        );
    }
}

/// An older binary meets a store a newer one migrated: it refuses to start, naming the
/// migration it does not know.
#[tokio::test]
async fn a_store_migrated_by_a_newer_version_is_refused() {
    let db = crate::harness::TestDb::new(lakegate::store::Backend::Sqlite)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', 1, X'00', 0)",
    )
    .execute(&db.store.raw_pool_for_tests())
    .await
    .unwrap();
    let err = db.store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("99999"), "{err}");
    db.cleanup().await;
}
