//! The background refresher: renews access tokens shortly before they expire (for
//! credentials in use) and refreshes idle credentials every `token_keepalive_hours`, so
//! their refresh tokens never lapse — within bounds per workspace host (concurrency and
//! start rate), in batches, each due row carrying the credential it names.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::clock::Clock;
use crate::store::{CredentialRow, IntegrationRow, Store};
use crate::tokens::{LEAD_SECONDS, TokenService};

/// Credentials the refresher takes per query.
const BATCH: i64 = 200;
/// How long one pass may go on (the next tick follows).
const PASS_BUDGET: Duration = Duration::from_secs(25);

/// How hard the background refresher may push. One default, used by `serve`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Refreshes in flight at once, over all hosts.
    pub concurrency: usize,
    /// Refreshes in flight at once per workspace host.
    pub per_host_concurrency: usize,
    /// Refreshes started per second per workspace host.
    pub per_host_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 16,
            per_host_concurrency: 8,
            per_host_per_second: 50,
        }
    }
}

/// Bounds the refresher's load on one host: concurrency and start rate.
struct HostGate {
    permits: Arc<tokio::sync::Semaphore>,
    interval: Duration,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
}

impl HostGate {
    fn new(concurrency: usize, per_second: u32) -> Self {
        HostGate {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            interval: Duration::from_secs(1) / per_second.max(1),
            next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for a slot and for this host's next start time.
    async fn enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        Some(permit)
    }
}

/// The scheduler over the token service.
pub struct Refresher {
    store: Store,
    clock: Arc<dyn Clock>,
    tokens: TokenService,
    limits: Limits,
}

impl Refresher {
    pub fn new(store: Store, clock: Arc<dyn Clock>, tokens: TokenService, limits: Limits) -> Self {
        Refresher {
            store,
            clock,
            tokens,
            limits,
        }
    }

    /// One pass: refreshes what is due, batch after batch, until nothing new is due or the
    /// pass has used its time. Returns how many refreshes completed.
    pub async fn pass(&self, keepalive_seconds: i64) -> usize {
        let budget = std::time::Instant::now() + PASS_BUDGET;
        // A credential that stays due after an attempt (say, its client was rejected) is
        // not retried in this pass.
        let mut attempted: HashSet<String> = HashSet::new();
        let mut hosts: HashMap<String, Arc<HostGate>> = HashMap::new();
        let mut integrations: HashMap<(String, String), Option<IntegrationRow>> = HashMap::new();
        let mut refreshed = 0;
        while std::time::Instant::now() < budget {
            let now = self.clock.now();
            let jitter = rand::rng().random_range(0..60);
            let due = match self
                .store
                .due_credentials(
                    now,
                    now + LEAD_SECONDS + jitter,
                    now - keepalive_seconds,
                    BATCH,
                )
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "could not list credentials due for refresh");
                    break;
                }
            };
            let full = due.len() as i64 == BATCH;
            let fresh: Vec<CredentialRow> = due
                .into_iter()
                .filter(|c| attempted.insert(c.id.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            let mut work = Vec::with_capacity(fresh.len());
            for cred in fresh {
                // One read per integration and workspace per pass, not per credential.
                let key = (cred.integration_id.clone(), cred.host.clone());
                if !integrations.contains_key(&key) {
                    let found = self
                        .store
                        .integration_for(&cred.org_id, &cred.integration_id, &cred.host)
                        .await
                        .ok()
                        .flatten();
                    integrations.insert(key.clone(), found);
                }
                if let Some(Some(i)) = integrations.get(&key) {
                    let idle = cred.last_refresh_at.unwrap_or(cred.refresh_issued_at)
                        <= now - keepalive_seconds;
                    work.push((cred, i.clone(), idle));
                }
            }
            refreshed += self.batch(&mut hosts, work).await;
            if !full {
                break;
            }
        }
        refreshed
    }

    async fn batch(
        &self,
        hosts: &mut HashMap<String, Arc<HostGate>>,
        work: Vec<(CredentialRow, IntegrationRow, bool)>,
    ) -> usize {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.limits.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (cred, integration, keepalive) in work {
            let tokens = self.tokens.clone();
            let permits = permits.clone();
            // Each host gets a bounded share: a few refreshes at once, and a start rate cap.
            let gate = hosts
                .entry(cred.host.clone())
                .or_insert_with(|| {
                    Arc::new(HostGate::new(
                        self.limits.per_host_concurrency,
                        self.limits.per_host_per_second,
                    ))
                })
                .clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.ok()?;
                let _host_permit = gate.enter().await?;
                let connection_id = cred.connection_id.clone();
                match tokens.refresh_due(cred, &integration, keepalive).await {
                    Ok(()) => Some(()),
                    Err(e) => {
                        tracing::info!(connection_id, error = %e, "background refresh did not complete");
                        None
                    }
                }
            });
        }
        let mut refreshed = 0;
        while let Some(done) = tasks.join_next().await {
            if matches!(done, Ok(Some(()))) {
                refreshed += 1;
            }
        }
        refreshed
    }
}
