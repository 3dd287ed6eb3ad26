//! The background jobs every `serve` process runs: token refresh (with re-consent warnings
//! and the sweep of expired sign-in flows), the follow-up of queries nobody polls, webhook
//! delivery, and the session sweep. Every replica runs them; store leases and fenced writes keep the work
//! single.

pub mod reconsent;
pub mod refresher;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::session::Lifetimes;
use crate::clock::Clock;
use crate::clock_skew::{ClockSkew, SkewGuard};
use crate::services::Services;
use crate::store::Store;

/// What the jobs are told by the config.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub keepalive_seconds: i64,
    pub reconsent_warning_seconds: i64,
    pub sessions: Lifetimes,
    /// Compare the clock with the store's before each refresh pass (off only under a
    /// test's clock).
    pub check_clock: bool,
}

/// Starts every job on the current runtime.
pub fn spawn(store: Store, clock: Arc<dyn Clock>, services: &Services, settings: Settings) {
    tokio::spawn(sweep_sessions(
        store.clone(),
        clock.clone(),
        settings.sessions,
    ));
    tokio::spawn(follow_up_queries(services.clone()));
    tokio::spawn(deliver_webhooks(services.clone()));
    tokio::spawn(refresh_tokens(store, clock, services.clone(), settings));
}

/// Compares this process's clock with the store's and records the result in `guard`
/// (`clock_skew` says why leases need it). When the store cannot be read, the last
/// measurement stands.
pub async fn check_clock(
    store: &Store,
    clock: &dyn Clock,
    guard: &SkewGuard,
) -> Result<(), ClockSkew> {
    let before = clock.now();
    let store_now = match store.clock().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the database's clock");
            return guard.check();
        }
    };
    let verdict = guard.record(before, store_now, clock.now());
    if let Err(e) = &verdict {
        tracing::error!(skew_seconds = e.seconds, "{e}");
    }
    verdict
}

/// Deletes expired sessions, old limit counts and webhook deliveries delivered more than
/// `webhooks::KEEP_DELIVERED_SECONDS` ago, every ten minutes (they are refused, ignored or
/// done; this keeps the tables small).
async fn sweep_sessions(store: Store, clock: Arc<dyn Clock>, life: Lifetimes) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(e) = store
            .delete_stale_sessions(clock.now(), life.idle_seconds)
            .await
        {
            tracing::warn!(error = %e, "session sweep failed");
        }
        // Limit windows are at most 15 minutes long; a day is plenty.
        if let Err(e) = store.delete_stale_rate_counts(clock.now() - 86_400).await {
            tracing::warn!(error = %e, "rate count sweep failed");
        }
        let delivered_before = clock.now() - crate::webhooks::KEEP_DELIVERED_SECONDS;
        if let Err(e) = store.delete_delivered_webhooks(delivered_before).await {
            tracing::warn!(error = %e, "webhook delivery sweep failed");
        }
    }
}

/// Every minute, follow up queries nobody polls (their own task: a slow warehouse must not
/// hold up token refreshes).
async fn follow_up_queries(services: Services) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        services.queries.sweep_unfinished(100).await;
    }
}

/// Every 2 s, deliver due webhooks (retries are spaced by the schedule, not by this tick).
async fn deliver_webhooks(services: Services) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        services.webhooks.deliver_due().await;
    }
}

/// Every 30 s: renew access tokens about to expire, keep idle refresh tokens alive, warn of
/// coming re-consents, and drop expired sign-in flows.
async fn refresh_tokens(
    store: Store,
    clock: Arc<dyn Clock>,
    services: Services,
    settings: Settings,
) {
    let refresher = refresher::Refresher::new(
        store.clone(),
        clock.clone(),
        services.tokens.clone(),
        refresher::Limits::default(),
    );
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        if settings.check_clock
            && check_clock(&store, clock.as_ref(), services.tokens.skew())
                .await
                .is_err()
        {
            // No refresh on a clock that could take a live lease; reported by /readyz.
            continue;
        }
        let n = refresher.pass(settings.keepalive_seconds).await;
        if n > 0 {
            tracing::info!(refreshed = n, "background token refresh");
        }
        reconsent::warn_due(&store, clock.now(), settings.reconsent_warning_seconds).await;
        if let Err(e) = store.delete_stale_flows(clock.now()).await {
            tracing::warn!(error = %e, "could not sweep expired sign-in flows");
        }
    }
}
