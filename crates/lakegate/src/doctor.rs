//! `lakegate doctor`: what an operator checks before and after a change — the store answers
//! and has every migration, this server's clock agrees with the store's, the master key
//! unwraps every org's data keys, and each integration works as it did when it was saved
//! (`integrations::verify`). One finding per check; the CLI prints a line each.

use crate::clock_skew::MAX_SKEW_SECONDS;
use crate::crypto::envelope::Keyring;
use crate::integrations::service::IntegrationService;
use crate::integrations::verify::{Check, Outcome};
use crate::providers;
use crate::store::Store;

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
    let (mut keys, mut broken) = (0, Vec::new());
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
            }
        }
    }
    out.push(Finding::new(
        "master key",
        "org data keys",
        if broken.is_empty() {
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
