//! The guarded outbound client against the SSRF corpus of security-tests.md §E: zero
//! connections to internal targets, whatever form the address takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lakegate::egress::{self, Egress, EgressError, HostPort, Policy};
use url::Url;

/// A listener that counts the connections it accepts.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

async fn serve(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

fn hosts(entries: &[String]) -> Vec<HostPort> {
    entries
        .iter()
        .map(|e| HostPort::parse(e).unwrap())
        .collect()
}

async fn get(egress: &Egress, url: &str) -> Result<egress::Response, EgressError> {
    let url = Url::parse(url).unwrap();
    egress.send(egress::Request::get(&url)).await
}

#[tokio::test]
async fn the_ssrf_corpus_makes_zero_connections() {
    let (port, count) = counting_listener().await;
    // Let every corpus host past the host rule, so only the address guard stands in the way.
    let policy = Policy {
        extra_allowed_hosts: hosts(&[
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("0.0.0.0:{port}"),
        ]),
        insecure_http_hosts: hosts(&[format!("localhost:{port}"), format!("127.0.0.1:{port}")]),
        ..Policy::default()
    };
    let egress = Egress::new(policy, None).unwrap();
    let corpus = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("https://[::1]:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://[::ffff:7f00:1]:{port}/"),
        format!("https://0.0.0.0:{port}/"),
        format!("http://localhost:{port}/"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://100.100.100.200/".to_owned(),
        "https://10.0.0.1/".to_owned(),
        "https://[fd00::1]/".to_owned(),
        "https://[fe80::1]/".to_owned(),
        "https://example.com/".to_owned(),
        format!("https://user:pw@localhost:{port}/"),
        format!("ftp://localhost:{port}/"),
    ];
    for url in &corpus {
        match get(&egress, url).await {
            Err(EgressError::Refused(why)) => assert!(!why.is_empty(), "{url}"),
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "no connection reached the internal target"
    );

    // Positive control: once the operator allows loopback, the same listener is reached.
    let allowed = Policy {
        extra_allowed_hosts: hosts(&[format!("localhost:{port}")]),
        insecure_http_hosts: hosts(&[format!("localhost:{port}")]),
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..Policy::default()
    };
    let _ = get(
        &Egress::new(allowed, None).unwrap(),
        &format!("http://localhost:{port}/"),
    )
    .await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "the counter does count");
}

#[tokio::test]
async fn redirects_to_internal_targets_are_not_followed() {
    let (target, count) = counting_listener().await;
    let location = format!("http://127.0.0.1:{target}/latest/meta-data/");
    let redirector = serve(axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }
    }))
    .await;
    let policy = Policy {
        extra_allowed_hosts: hosts(&[format!("localhost:{redirector}")]),
        insecure_http_hosts: hosts(&[format!("localhost:{redirector}")]),
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..Policy::default()
    };
    let err = get(
        &Egress::new(policy, None).unwrap(),
        &format!("http://localhost:{redirector}/oidc"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, EgressError::Redirect { status: 302, .. }),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn responses_are_capped() {
    let big = serve(axum::Router::new().fallback(|| async { "x".repeat(2 * 1024 * 1024) })).await;
    let policy = Policy {
        extra_allowed_hosts: hosts(&[format!("localhost:{big}")]),
        insecure_http_hosts: hosts(&[format!("localhost:{big}")]),
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..Policy::default()
    };
    let err = get(
        &Egress::new(policy, None).unwrap(),
        &format!("http://localhost:{big}/"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EgressError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_is_verified_unless_the_ca_is_trusted() {
    let ws = crate::harness::Workspace::start().await;
    let url = format!(
        "https://{}/oidc/.well-known/oauth-authorization-server",
        ws.host()
    );
    let policy = Policy {
        extra_allowed_hosts: hosts(&[ws.host()]),
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        ..Policy::default()
    };
    let untrusted = get(&Egress::new(policy, None).unwrap(), &url).await;
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown CA is refused"
    );
    let trusted = get(&ws.egress(), &url).await.unwrap();
    assert_eq!(trusted.status, 200);
}
