//! Setup verified at save, for every provider: a client whose registration does not know
//! Lakegate's redirect URL is refused with the URL to add (Databricks' app connection,
//! Snowflake's security integration, Google's web client), nothing is stored, and the same
//! client with the URL registered saves clean; an authorize endpoint whose answer proves
//! nothing saves with a warning the admin sees, which the next clean save clears. On both
//! backends.

use lakegate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warehouse_emulator::engine::faults::{FaultRequest, Target};
use warehouse_emulator::{AppRequest, GoogleClientConfig, SnowflakeIntegrationConfig};

use crate::shared_identities::send;
use crate::world::{Setup, setup};

crate::on_each_backend!(
    a_redirect_url_the_vendor_does_not_know_is_refused_with_the_url_to_add,
    an_answer_that_proves_nothing_saves_with_a_warning,
);

const ELSEWHERE: &str = "https://elsewhere.example.com/callback";

/// Registers each vendor's client with `redirect` (per vendor: its callback path appended
/// when `None`) and answers the body that saves it.
fn register(s: &Setup, kind: &str, redirect: Option<&str>) -> Value {
    let url = |path: &str| redirect.map_or_else(|| s.app.url(path), str::to_owned);
    match kind {
        "databricks-oauth-u2m" => {
            let app =
                s.ws.emu
                    .register_app(AppRequest {
                        name: Some("Check".into()),
                        redirect_urls: Some(vec![url("/connections/oauth/databricks/callback")]),
                        confidential: Some(true),
                        scopes: Some(vec!["all-apis".into(), "offline_access".into()]),
                        ..Default::default()
                    })
                    .unwrap();
            json!({"host": s.ws.host(), "client_id": app.client_id, "client_secret": app.client_secret})
        }
        "snowflake-oauth" => {
            let id = format!("SF-{}", redirect.is_some());
            s.ws.emu
                .register_snowflake_integration(SnowflakeIntegrationConfig {
                    name: format!("CHECK_{}", redirect.is_some()).to_uppercase(),
                    client_id: id.clone(),
                    client_secret: "snowflake-check-secret".into(),
                    redirect_uri: url("/connections/oauth/snowflake/callback"),
                    refresh_token_validity_seconds: 86_400,
                    single_use_refresh_tokens: false,
                    pre_authorized_roles: vec![],
                    blocked_roles: vec![],
                });
            json!({"host": s.ws.host(), "client_id": id, "client_secret": "snowflake-check-secret"})
        }
        _ => {
            let id = format!(
                "{}-check.apps.googleusercontent.com",
                redirect.is_some() as u8
            );
            s.ws.emu.register_google_client(GoogleClientConfig {
                client_id: id.clone(),
                client_secret: "GOCSPX-check".into(),
                redirect_uris: vec![url("/connections/oauth/bigquery/callback")],
                testing: false,
            });
            json!({"client_id": id, "client_secret": "GOCSPX-check"})
        }
    }
}

async fn a_redirect_url_the_vendor_does_not_know_is_refused_with_the_url_to_add() {
    let s = setup().await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    for (kind, callback) in [
        (
            "databricks-oauth-u2m",
            "/connections/oauth/databricks/callback",
        ),
        ("snowflake-oauth", "/connections/oauth/snowflake/callback"),
        ("bigquery-oauth", "/connections/oauth/bigquery/callback"),
    ] {
        let path = format!("/api/v1/integrations/{kind}");
        let before = admin.get_json(&path).await;
        let (status, body) = send(
            &admin,
            Method::PUT,
            &path,
            register(&s, kind, Some(ELSEWHERE)),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {body}");
        assert_eq!(
            body["error"]["code"], "redirect_url_not_registered",
            "{kind}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.ends_with(&format!("add {}", s.app.url(callback))),
            "{kind}: {message}"
        );
        assert_eq!(
            admin.get_json(&path).await,
            before,
            "{kind}: nothing stored"
        );

        let (status, saved) = send(&admin, Method::PUT, &path, register(&s, kind, None)).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {saved}");
        assert_eq!(saved["setup_warning"], Value::Null, "{kind}: all checked");
    }
}

async fn an_answer_that_proves_nothing_saves_with_a_warning() {
    let s = setup().await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let path = "/api/v1/integrations/databricks-oauth-u2m";
    s.ws.emu.fault(FaultRequest::status(Target::Authorize, 502));
    let (status, saved) = send(
        &admin,
        Method::PUT,
        path,
        register(&s, "databricks-oauth-u2m", None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let warning = saved["setup_warning"].as_str().unwrap().to_owned();
    assert!(
        warning.contains("could not check") && warning.contains("502"),
        "{warning}"
    );
    let page = admin.page("/settings/advanced/integrations").await;
    assert!(
        page.contains("class=\"warning\""),
        "the list shows the warning"
    );
    // Checked again on the next save: clean now, the warning goes.
    let (_, saved) = send(
        &admin,
        Method::PUT,
        path,
        register(&s, "databricks-oauth-u2m", None),
    )
    .await;
    assert_eq!(saved["setup_warning"], Value::Null);
}
