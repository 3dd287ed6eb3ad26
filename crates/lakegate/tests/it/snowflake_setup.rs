//! Saving a Snowflake integration against the emulated account: the host as admins paste
//! it, Snowflake's fixed endpoints (no discovery document), and the client checked at the
//! token endpoint before anything is stored — on both backends.

use lakegate::integrations::{IntegrationError, SaveInput, TokenLifetimes};
use lakegate::providers::DiscoveryError;
use lakegate::providers::snowflake::OAUTH;
use lakegate::secret::Secret;
use warehouse_emulator::{EmulatorConfig, SnowflakeIntegrationConfig};

use crate::harness::{TestApp, TestDb, Workspace};

crate::on_each_backend!(a_snowflake_integration_is_saved_only_with_a_client_snowflake_accepts);

const CLIENT_ID: &str = "aB+c/dEf=";
const SECRET: &str = "s3+cr/et==";

async fn a_snowflake_integration_is_saved_only_with_a_client_snowflake_accepts() {
    let db = TestDb::current().await;
    let ws = Workspace::start_with(EmulatorConfig::for_tests()).await;
    let app = TestApp::spawn_with(&db, Some(&ws)).await;
    ws.emu
        .register_snowflake_integration(SnowflakeIntegrationConfig {
            name: "LAKEGATE".into(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_uri: app.url("/connections/oauth/snowflake/callback"),
            refresh_token_validity_seconds: 86_400,
            single_use_refresh_tokens: false,
            pre_authorized_roles: vec![],
            blocked_roles: vec![],
        });
    let org = app.org("acme").await;
    let actor = lakegate::audit::Actor::cli(Some(org.id.clone()));
    let input = |host: &str, secret: &str| SaveInput {
        host: host.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(Secret::new(secret)),
        scopes: Some("refresh_token session:role:ANALYST".into()),
        lifetimes: Some(TokenLifetimes {
            refresh_ttl_minutes: 1440,
            absolute_lifetime_minutes: Some(1440),
        }),
        default_compute: None,
    };
    let integrations = &app.state.services.integrations;

    // Base64 secrets are sent byte-exact (Basic over the raw values): one character off is
    // a refused client, and nothing is stored.
    let refused = integrations
        .save(&OAUTH, &actor, &org.id, input(&ws.host(), "s3+cr/et=X"))
        .await;
    assert!(
        matches!(
            refused,
            Err(IntegrationError::Discovery(DiscoveryError::ClientRejected(
                _
            )))
        ),
        "{refused:?}"
    );
    assert!(integrations.get(&OAUTH, &org.id).await.unwrap().is_none());

    // A host that is not Snowflake's (nor the operator's) is refused before any call.
    let foreign = integrations
        .save(&OAUTH, &actor, &org.id, input("evil.example.com", SECRET))
        .await;
    assert!(
        matches!(foreign, Err(IntegrationError::Invalid(m)) if m.contains("not a Snowflake account host"))
    );

    let row = integrations
        .save(&OAUTH, &actor, &org.id, input(&ws.host(), SECRET))
        .await
        .unwrap();
    let base = ws.emu.base_url.clone();
    assert_eq!(
        row.authorization_endpoint,
        format!("{base}/oauth/authorize")
    );
    assert_eq!(row.token_endpoint, format!("{base}/oauth/token-request"));
    assert_eq!(row.client_id, CLIENT_ID, "byte-exact");
    assert_eq!(row.scopes, "refresh_token session:role:ANALYST");
    assert_eq!(
        row.issuer_in_response, 0,
        "Snowflake's callbacks carry no iss"
    );
    // The probe spent no user's grant: no code was issued or redeemed.
    assert_eq!(ws.emu.counters().codes_redeemed, 0);
}
