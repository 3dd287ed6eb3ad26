//! HTTPS: a CA and a server certificate generated at start (the CA is written out so
//! clients can trust it — the real TLS path), and a listener that terminates TLS.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The generated CA (PEM) and the server configuration.
pub struct Tls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

/// A generated CA and a server certificate signed by it, all PEM (for servers other than
/// the emulator that tests run with real TLS, such as an OpenID provider).
pub struct Pems {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

struct Generated {
    ca: rcgen::Certificate,
    leaf: rcgen::Certificate,
    leaf_key: KeyPair,
}

fn certificates(extra_host: Option<&str>) -> Result<Generated, anyhow::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Databricks emulator test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if let Some(h) = extra_host.filter(|h| !names.iter().any(|n| n == h)) {
        names.push(h.to_owned());
    }
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "warehouse-emulator");
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    Ok(Generated { ca, leaf, leaf_key })
}

/// A CA and a certificate for `localhost` and `127.0.0.1`, as PEM.
pub fn generate_pems() -> Result<Pems, anyhow::Error> {
    let g = certificates(None)?;
    Ok(Pems {
        ca_pem: g.ca.pem(),
        cert_pem: format!("{}{}", g.leaf.pem(), g.ca.pem()),
        key_pem: g.leaf_key.serialize_pem(),
    })
}

/// Makes a CA and a certificate for `localhost`, `127.0.0.1` and `extra_host`.
pub fn generate(extra_host: Option<&str>) -> Result<Tls, anyhow::Error> {
    let g = certificates(extra_host)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![g.leaf.der().clone(), g.ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(g.leaf_key.serialize_der())),
        )?;
    Ok(Tls {
        ca_pem: g.ca.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

/// A TCP listener that completes the TLS handshake before handing a connection to axum.
pub struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that never finishes its handshake must not hold the listener.
            match tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
