//! Settings › Connection health: sign-ins by status and refresh outcomes agree with
//! `/metrics` (one process here), charts hold the refreshes of every replica (through the
//! store), upcoming re-consents name who and where, and an integration whose client is
//! rejected is listed for the admin.

use lakegate::accounts::Role;
use lakegate::integrations::TokenLifetimes;

use crate::harness::{Sent, TestApp, TestDb};
use crate::world::Setup;

crate::on_each_backend!(the_health_view_agrees_with_metrics_and_counts_every_replica);

/// The value of `metric{…label…}` in a Prometheus text answer, summed over its other labels.
fn metric(text: &str, name: &str, label: &str) -> i64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}

/// The total shown for `outcome` in the 24-hour and 7-day columns.
fn totals(page: &str, outcome: &str) -> Vec<i64> {
    let row = &page[page.find(&format!("data-outcome=\"{outcome}\"")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    row.split("<span class=\"total\">")
        .skip(1)
        .map(|t| t[..t.find('<').unwrap()].parse().unwrap())
        .collect()
}

async fn the_health_view_agrees_with_metrics_and_counts_every_replica() {
    let db = TestDb::current().await;
    let s: Setup = crate::world::setup_on(&db, warehouse_emulator::TokenPolicy::default()).await;
    // A three-day absolute session lifetime: every sign-in is up for renewal this week.
    s.save_integration(
        &s.ws.client_id,
        None,
        Some(TokenLifetimes {
            refresh_ttl_minutes: 24 * 60,
            absolute_lifetime_minutes: Some(3 * 24 * 60),
        }),
    )
    .await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&ed, false).await;
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;
    let ed_id = s.app.find_user(&s.org.id, "ed@acme.test").await.id;

    // One refresh here, one on another replica (its own metrics, the same store).
    s.advance(3_570);
    crate::harness::fresh_on(&s.app.state, &conn, &ed_id, &s.org.id, 60)
        .await
        .unwrap();
    let replica = TestApp::spawn_replica_on(&db, &s.app).await;
    s.advance(3_570);
    crate::harness::fresh_on(&replica.state, &conn, &ed_id, &s.org.id, 60)
        .await
        .unwrap();

    let admin = s.user("root@acme.test", Role::Admin).await;
    let page = admin.page("/settings/health").await;
    assert_eq!(
        totals(&page, "success"),
        [2, 2],
        "both replicas' refreshes, day and week"
    );
    assert_eq!(totals(&page, "reauth"), [0, 0]);
    let metrics = crate::harness::http()
        .get(s.app.url("/metrics"))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &metrics,
            "lakegate_token_refreshes_total",
            "outcome=\"success\""
        ),
        1,
        "this process's own counter: its one refresh"
    );
    assert_eq!(
        metric(&metrics, "lakegate_credentials", "status=\"active\""),
        1
    );
    assert!(
        page.contains("<tr><td>active</td><td>1</td></tr>"),
        "the same count"
    );

    // Upcoming re-consents: who, which connection, by when.
    let upcoming = &page[page.find("id=\"health-upcoming\"").unwrap()..];
    assert!(upcoming.contains("<td>ed@acme.test</td>"));
    assert!(upcoming.contains(&format!("href=\"/connections/{conn}\">Sales</a>")));
    assert!(page.contains("every configured integration's client is accepted"));

    // The client secret rotated behind Lakegate's back: listed for the admin.
    s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    s.advance(3_570);
    let _ = crate::harness::fresh_on(&s.app.state, &conn, &ed_id, &s.org.id, 60).await;
    let page = admin.page("/settings/health").await;
    assert!(
        page.contains("Databricks rejects the client secret: update it"),
        "flagged"
    );
    assert_eq!(totals(&page, "client_rejected"), [1, 1]);
}
