//! `lakegate doctor`: what an operator checks before and after a change — the store answers
//! and has every migration, this server's clock agrees with the store's, the master key
//! unwraps every org's data keys, and each integration works as it did when it was saved
//! (`integrations::verify`), each shared identity is still accepted by its workspace, and
//! each webhook endpoint is still allowed. One finding per check; the CLI prints a line each.

use crate::clock_skew::MAX_SKEW_SECONDS;
use crate::crypto::envelope::Keyring;
use crate::egress::{Destination, Egress};
use crate::integrations::service::IntegrationService;
use crate::integrations::verify::{Check, Outcome};
use crate::providers;
use crate::store::Store;
use crate::tokens::TokenService;

/// A check and what it is about (`store`, `acme/databricks-oauth-u2m`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub check: Check,
}

impl Finding {
    fn new(subject: impl Into<String>, name: &'static str, outcome: Outcome) -> Self {
        Finding {
            subject: subject.into(),
            check: Check { name, outcome },
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.check.outcome, Outcome::Fail(_))
    }

    /// `ok   store: migrations — every one applied`, as the CLI prints it.
    pub fn line(&self) -> String {
        let (mark, text) = match &self.check.outcome {
            Outcome::Ok(t) => ("ok  ", t),
            Outcome::Warn(t) => ("warn", t),
            Outcome::Fail(t) => ("FAIL", t),
        };
        format!("{mark}  {}: {} — {text}", self.subject, self.check.name)
    }
}

/// Every check, in order. Needs a reachable store (the CLI reports when it is not).
pub async fn run(
    store: &Store,
    keyring: &Keyring,
    integrations: &IntegrationService,
    now: i64,
) -> Vec<Finding> {
    let mut out = vec![Finding::new(
        "store",
        "migrations",
        if store.is_ready().await {
            Outcome::Ok("every migration applied".into())
        } else {
            Outcome::Fail("migrations are pending: run `lakegate migrate`".into())
        },
    )];
    out.push(Finding::new(
        "store",
        "clock",
        store_clock(store, now).await,
    ));
    let orgs = match store.list_orgs().await {
        Ok(orgs) => orgs,
        Err(e) => {
            out.push(Finding::new("store", "orgs", Outcome::Fail(e.to_string())));
            return out;
        }
    };
    let (mut keys, mut broken, mut previous) = (0, Vec::new(), 0);
    for org in &orgs {
        let rows = match store.data_keys(&org.id).await {
            Ok(rows) => rows,
            Err(e) => {
                broken.push(format!("{}: the data keys cannot be read: {e}", org.slug));
                continue;
            }
        };
        for row in rows {
            keys += 1;
            if let Err(e) = keyring.unwraps(&org.id, &row) {
                broken.push(format!("{} {}: {e}", org.slug, row.key_id));
            } else if row.kek_id != keyring.kek_id() {
                previous += 1;
            }
        }
    }
    out.push(Finding::new(
        "master key",
        "org data keys",
        if broken.is_empty() && previous > 0 {
            Outcome::Warn(format!(
                "the keyring unwraps all {keys} data keys of {} orgs, {previous} of them by a previous master key: run `lakegate keys rotate`",
                orgs.len()
            ))
        } else if broken.is_empty() {
            Outcome::Ok(format!(
                "{} unwraps all {keys} data keys of {} orgs",
                keyring.kek_id(),
                orgs.len()
            ))
        } else {
            Outcome::Fail(broken.join("; "))
        },
    ));
    for org in &orgs {
        for provider in providers::ALL {
            let kind = provider.info().kind;
            let Ok(Some(row)) = store.integration(&org.id, kind).await else {
                continue;
            };
            let subject = format!("{}/{kind}", org.slug);
            for check in integrations.verify(&row).await {
                out.push(Finding {
                    subject: subject.clone(),
                    check,
                });
            }
        }
    }
    out
}

/// Each org's shared identities (a connection's own service principal or personal access
/// token), proven against their workspace again: one request for a token (M2M) and one
/// SCIM `Me`, so nothing is stored and no user is involved.
pub async fn shared_identities(store: &Store, tokens: &TokenService) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(orgs) = store.list_orgs().await else {
        return out;
    };
    for org in &orgs {
        let clients = match store.connection_clients(&org.id).await {
            Ok(c) => c,
            Err(e) => {
                out.push(Finding::new(
                    org.slug.clone(),
                    "shared identities",
                    Outcome::Fail(e.to_string()),
                ));
                continue;
            }
        };
        for client in clients {
            let conn_id = client.connection_id.clone().unwrap_or_default();
            let name = match store.connection(&org.id, &conn_id).await {
                Ok(Some(c)) => c.name,
                _ => conn_id,
            };
            let subject = format!("{}/connection {name:?}", org.slug);
            let outcome = match tokens.reprove(&client).await {
                Ok(proven) => Outcome::Ok(format!(
                    "{} accepts it; it runs as {}",
                    client.host, proven.identity.user_name
                )),
                Err(e) => Outcome::Fail(e.to_string()),
            };
            out.push(Finding::new(subject, "credentials", outcome));
        }
    }
    out
}

/// Each org's webhook endpoints: the URL still passes the receivers' policy (`[webhooks]`;
/// a configuration change can strand an endpoint saved before it), and no delivery has
/// failed for good (a `warn`: replay them on the webhooks page). Nothing is sent.
pub async fn webhooks(store: &Store, egress: &Egress) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(orgs) = store.list_orgs().await else {
        return out;
    };
    for org in &orgs {
        let Ok(endpoints) = store.webhook_endpoints(&org.id).await else {
            continue;
        };
        for e in endpoints {
            let subject = format!("{}/webhook {}", org.slug, e.url);
            let allowed = url::Url::parse(&e.url)
                .map_err(|err| err.to_string())
                .and_then(|u| {
                    egress
                        .check_for(&u, Destination::Webhook)
                        .map_err(|err| err.to_string())
                });
            out.push(Finding::new(
                subject.clone(),
                "policy",
                match allowed {
                    Ok(()) => Outcome::Ok("the receivers' policy allows it".into()),
                    Err(why) => Outcome::Fail(format!(
                        "{why} (see webhooks.allowed_cidrs and webhooks.insecure_http_hosts)"
                    )),
                },
            ));
        }
        match store.failed_webhook_deliveries(&org.id).await {
            Ok(0) | Err(_) => {}
            Ok(n) => out.push(Finding::new(
                format!("{}/webhooks", org.slug),
                "deliveries",
                Outcome::Warn(format!(
                    "{n} failed after every retry: replay them on Settings › Advanced › Webhooks"
                )),
            )),
        }
    }
    out
}

async fn store_clock(store: &Store, now: i64) -> Outcome {
    match store.clock().await {
        Ok(theirs) if (theirs - now).abs() <= MAX_SKEW_SECONDS => Outcome::Ok(format!(
            "within {} s of the database's",
            (theirs - now).abs()
        )),
        Ok(theirs) => Outcome::Fail(format!(
            "this server's clock is {} s {} the database's (at most {MAX_SKEW_SECONDS} s is tolerated; refreshes stop beyond it): fix its time synchronisation",
            (now - theirs).abs(),
            if now > theirs { "ahead of" } else { "behind" }
        )),
        Err(e) => Outcome::Fail(e.to_string()),
    }
}
