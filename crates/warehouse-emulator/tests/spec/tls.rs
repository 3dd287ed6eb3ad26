//! HTTPS with a generated CA: trusted when the client adds the CA, refused otherwise.

use crate::harness::Sent;
use warehouse_emulator::{Emulator, EmulatorConfig};

fn client(ca: Option<&str>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder().tls_backend_rustls();
    if let Some(pem) = ca {
        b = b.tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()]);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn https_is_served_with_a_ca_the_client_can_trust() {
    let dir = std::env::temp_dir().join(format!("emu-ca-{}", std::process::id()));
    let ca_path = format!("{}.pem", dir.display());
    let emu = Emulator::start(EmulatorConfig {
        tls: true,
        tls_ca_out: Some(ca_path.clone()),
        ..EmulatorConfig::for_tests()
    })
    .await
    .unwrap();
    assert!(emu.base_url.starts_with("https://127.0.0.1:"));
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    assert_eq!(Some(ca.as_str()), emu.ca_pem.as_deref());
    let url = format!(
        "{}/oidc/.well-known/oauth-authorization-server",
        emu.base_url
    );
    let doc: serde_json::Value = client(Some(&ca))
        .get(&url)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{}/oidc", emu.base_url));
    assert!(
        client(None).get(&url).send().await.is_err(),
        "an untrusted CA is refused"
    );
    let _ = std::fs::remove_file(ca_path);
}
