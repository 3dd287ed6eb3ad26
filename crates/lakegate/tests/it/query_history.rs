//! Query history in pages, by connection and outcome — through the API and on the page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::world::setup;

crate::on_each_backend!(history_filters_by_connection_and_outcome_and_pages);

async fn history_filters_by_connection_and_outcome_and_pages() {
    let s = setup().await;
    let (ed, first) = crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let second = s.connection(&ed, false).await;
    s.sign_in(&ed, &second, "alice@example.com", "alice").await;
    for (conn, statement) in [
        (&first, "SELECT 1"),
        (&first, "SELECT * FROM samples.nyctaxi.nope"),
        (&second, "SELECT 2"),
    ] {
        let path = format!("/api/v1/connections/{conn}/queries");
        let body = json!({"statement": statement, "warehouse_id": "abcdef1234567890"});
        let r = ed
            .client
            .post(ed.url(&path))
            .header("x-csrf-token", &ed.csrf)
            .json(&body);
        crate::harness::Sent::sent(r).await;
    }
    let api = |q: &str| {
        let path = format!("/api/v1/queries?{q}");
        let ed = &ed;
        async move { ed.get_json(&path).await }
    };
    let statements = |v: &Value| -> Vec<String> {
        v["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["statement"].as_str().unwrap().to_owned())
            .collect()
    };
    let on_first = api(&format!("connection={first}")).await;
    assert_eq!(
        statements(&on_first),
        ["SELECT * FROM samples.nyctaxi.nope", "SELECT 1"]
    );
    let failed = api("outcome=FAILED").await;
    assert_eq!(statements(&failed), ["SELECT * FROM samples.nyctaxi.nope"]);
    // One at a time: the same three, newest first, then no next page.
    let mut seen = vec![];
    let mut q = "limit=1".to_owned();
    loop {
        let page = api(&q).await;
        seen.extend(statements(&page));
        match page["next_before"].as_str() {
            Some(b) => q = format!("limit=1&before={b}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["SELECT 2", "SELECT * FROM samples.nyctaxi.nope", "SELECT 1"]
    );
    for bad in ["outcome=DONE", "before=nonsense", "limit=0"] {
        let resp = ed.get(&format!("/api/v1/queries?{bad}")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // The page: filters and a link to older queries.
    let page = ed.page(&format!("/queries?connection={second}")).await;
    assert!(
        page.contains("SELECT 2") && !page.contains("SELECT 1"),
        "one connection's"
    );
    let page = ed.page("/queries?limit=1").await;
    assert!(page.contains("id=\"queries-older\""));
}
