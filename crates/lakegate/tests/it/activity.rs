//! Settings › Activity reads: actors and targets by name (the id on hover and in the
//! export), filters by user and connection, pages of older events, and a spreadsheet-safe
//! CSV export of what the filters select — on the page and through the API.

use lakegate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::shared_identities::send;
use crate::world::setup;

crate::on_each_backend!(activity_names_filters_pages_and_exports);

async fn activity_names_filters_pages_and_exports() {
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let ed_id = s.app.find_user(&s.org.id, "ed@acme.test").await.id;
    let (_, sales) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "=Sales", "provider": "databricks", "auth": "oauth-u2m"}),
    )
    .await;
    let sales = sales["id"].as_str().unwrap().to_owned();
    let other = s.connection(&ed, false).await;
    let path = format!("/api/v1/connections/{other}");
    send(&ed, Method::PATCH, &path, json!({"name": "Renamed"})).await;
    let admin = s.user("root@acme.test", Role::Admin).await;

    // Names, with the id on hover.
    let page = admin.page("/settings/activity").await;
    assert!(
        page.contains(&format!("title=\"user:{ed_id}\">ed@acme.test")),
        "actor by email"
    );
    assert!(
        page.contains(&format!("<span title=\"{sales}\">=Sales</span>")),
        "target by name"
    );
    assert!(
        !page.contains(&format!(">user:{ed_id}<")),
        "no raw ids shown as names"
    );

    // Filters: a connection's events; a user's events.
    let api = |q: String| {
        let admin = &admin;
        async move { admin.get_json(&format!("/api/v1/audit?{q}")).await }
    };
    let about_sales = api(format!("connection={sales}")).await;
    let actions: Vec<&str> = about_sales["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["connection.create"]);
    let by_ed = api(format!("user={ed_id}")).await;
    let events = by_ed["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // What ed did, and what was done to ed (created by the CLI, signed in).
    assert_eq!(
        actions,
        [
            "connection.update",
            "connection.create",
            "connection.create",
            "auth.login",
            "user.create"
        ]
    );
    assert!(
        events
            .iter()
            .filter(|e| e["actor"].as_str().unwrap().starts_with("user:"))
            .all(|e| e["actor_name"] == "ed@acme.test")
    );
    let (status, _) = send(&admin, Method::GET, "/api/v1/audit?user=a%25", json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a user filter is an id, not a pattern"
    );

    // Pages: one event at a time, older each time, the same events as one page.
    let mut seen = vec![];
    let mut query = format!("user={ed_id}&limit=1");
    loop {
        let page = api(query.clone()).await;
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_before"].as_i64() {
            Some(b) => query = format!("user={ed_id}&limit=1&before={b}"),
            None => break,
        }
    }
    let all: Vec<Value> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, all, "one at a time, the same events");
    let page = admin
        .page(&format!("/settings/activity?user={ed_id}&limit=1"))
        .await;
    assert!(
        page.contains("id=\"activity-older\""),
        "the page links to older events"
    );

    // The export: ids and names side by side, a formula-like name neutralised.
    let resp = admin
        .get(&format!("/settings/activity.csv?connection={sales}"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,time,actor,actor_name,action,target,target_name,outcome,client_ip,request_id,details"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains(&format!(
            "user:{ed_id},ed@acme.test,connection.create,{sales},'=Sales,success,"
        )),
        "the name neutralised for spreadsheets: {text}"
    );
}
