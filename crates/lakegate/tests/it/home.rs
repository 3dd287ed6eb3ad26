//! The home page leads somewhere: each connection with its status and the next step — sign
//! in (or again, with why), pick a warehouse, nothing to do — and, for admins, the setup
//! checklist (integrations configured and verified, users, sign-ins) with links.

use lakegate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::shared_identities::send;
use crate::world::setup;

crate::on_each_backend!(the_home_page_shows_each_connections_next_step_and_the_admins_checklist);

/// The `data-state` of the home page's row for connection `id`.
fn state_of(page: &str, id: &str) -> String {
    let link = format!("href=\"/connections/{id}\"");
    let row_start = page[..page.find(&link).expect("the connection is listed")]
        .rfind("<tr data-state=\"")
        .unwrap();
    let rest = &page[row_start + "<tr data-state=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn the_home_page_shows_each_connections_next_step_and_the_admins_checklist() {
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let never = s.connection(&ed, false).await;
    let ready = s.connection(&ed, false).await;
    s.sign_in(&ed, &ready, "alice@example.com", "alice").await;
    let page = ed.page("/").await;
    assert_eq!(state_of(&page, &never), "signin");
    assert!(
        page.contains(&format!("action=\"/connections/{never}/sign-in\"")),
        "a button to sign in"
    );
    assert_eq!(
        state_of(&page, &ready),
        "setup",
        "signed in, no warehouse yet"
    );
    assert!(page.contains("Pick a warehouse"));
    let (status, _) = send(
        &ed,
        Method::PATCH,
        &format!("/api/v1/connections/{ready}"),
        json!({"warehouse_id": "abcdef1234567890"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state_of(&ed.page("/").await, &ready), "active");
    // A dead grant: sign in again, with the reason.
    let cred = s
        .app
        .store
        .credential(&ready, &s.app.find_user(&s.org.id, "ed@acme.test").await.id)
        .await
        .unwrap()
        .unwrap();
    s.app
        .store
        .mark_reauth(
            &cred.id,
            cred.version,
            "Databricks said the refresh token is invalid",
            1,
        )
        .await
        .unwrap();
    let page = ed.page("/").await;
    assert_eq!(state_of(&page, &ready), "signin");
    assert!(page.contains("sign in again: Databricks said the refresh token is invalid"));
    assert!(
        !page.contains("setup-checklist"),
        "the checklist is for admins"
    );

    let admin = s.user("root@acme.test", Role::Admin).await;
    let page = admin.page("/").await;
    let checklist = &page[page.find("id=\"setup-checklist\"").unwrap()..];
    let checklist = &checklist[..checklist.find("</ul>").unwrap()];
    assert!(checklist.contains("class=\"done\"><span aria-hidden=\"true\">✓</span> <span class=\"sr-only\">Done:</span> OAuth U2M connections to Databricks: configured and verified"), "{checklist}");
    assert!(
        checklist.contains("OAuth connections to Snowflake: not configured"),
        "{checklist}"
    );
    assert!(
        checklist.contains("2 users in the organization"),
        "{checklist}"
    );
    assert!(
        checklist.contains("0 connection sign-ins active"),
        "the one sign-in is dead: {checklist}"
    );
    assert!(checklist.contains("href=\"/settings/advanced/integrations/snowflake-oauth\""));
}
