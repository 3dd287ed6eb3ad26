//! `lakegate serve`: config → key → store → services → the web layer and the background
//! jobs. The binary's wiring: with `app.rs`, the one place outside `http/` that knows it.

use std::sync::Arc;

use anyhow::{Context, anyhow};

use super::{build_egress, load_keyring, open_store};
use crate::app::{AppState, WebSettings};
use crate::auth::session::Lifetimes;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::jobs;
use crate::services::Infra;

pub(super) async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format, &config.log_level);
    serve_until(config, shutdown_signal()).await
}

/// Serves until `shutdown` completes (logging must be initialised by the caller).
pub(crate) async fn serve_until(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let public_url = config.require_public_url()?.clone();
    let keyring = Arc::new(load_keyring(&config)?);
    let egress = build_egress(&config)?;
    if !config.egress.policy.insecure_http_hosts.is_empty() {
        tracing::warn!(
            "egress.insecure_http_hosts allows plain http to some hosts: use this for loopback development only"
        );
    }
    let store = open_store(&config).await?;
    store.migrate().await.context("migrations failed")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow!("cannot listen on {}: the address is already in use (set `listen` or LAKEGATE_LISTEN)", config.listen)
        } else {
            anyhow!("cannot listen on {}: {e}", config.listen)
        }
    })?;
    let life = Lifetimes {
        idle_seconds: config.session_idle_seconds,
        absolute_seconds: config.session_absolute_seconds,
    };
    let (clock, test_clock) = clock();
    let mut infra = Infra::new(store.clone(), clock.clone(), keyring, egress);
    infra.webhook_egress = Some(super::build_webhook_egress(&config)?);
    #[cfg(feature = "testkit")]
    {
        infra.failpoints = Arc::new(crate::testkit::process::failpoints());
    }
    // A clock too far from the database's could take another replica's live refresh lease.
    if !test_clock {
        jobs::check_clock(&store, clock.as_ref(), &infra.skew)
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }
    let web = WebSettings {
        vend_limit_per_minute: config.token_vend_limit_per_minute,
        ..WebSettings::new(public_url.clone(), life)
    };
    let state = AppState::from_infra(&infra, web);
    jobs::spawn(
        store.clone(),
        clock,
        &state.services,
        jobs::Settings {
            keepalive_seconds: config.token_keepalive_seconds,
            reconsent_warning_seconds: config.reconsent_warning_seconds,
            sessions: life,
            check_clock: !test_clock,
        },
    );
    tracing::info!(listen = %config.listen, public_url = %public_url, backend = ?store.backend(), "lakegate is serving");
    crate::app::serve(listener, state, shutdown).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The system clock; in `testkit` builds, a test's clock file when one is named (and then
/// true: the clock-skew check does not apply).
fn clock() -> (Arc<dyn Clock>, bool) {
    #[cfg(feature = "testkit")]
    if let Some(clock) = crate::testkit::process::clock() {
        return (clock, true);
    }
    (Arc::new(SystemClock), false)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
