//! `lakegate doctor`: one line per check, a non-zero exit on any problem.

use std::sync::Arc;

use anyhow::bail;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;

pub async fn doctor(config: &Config) -> anyhow::Result<()> {
    println!("ok    configuration: loaded");
    let store = match super::open_store(config).await {
        Ok(s) => s,
        Err(e) => {
            println!("FAIL  store: reachable — {e:#}");
            bail!("the store cannot be reached");
        }
    };
    // Never creates a key: a missing one is a finding, not something to fix silently.
    let keyring = match super::keyring(config, false) {
        Ok(keyring) => Arc::new(keyring),
        Err(e) => {
            println!("FAIL  master key: loaded — {e:#}");
            bail!("the master key cannot be loaded");
        }
    };
    let egress = super::build_egress(config)?;
    let integrations = crate::integrations::service::IntegrationService::new(
        store.clone(),
        keyring.clone(),
        egress.clone(),
        Arc::new(SystemClock),
        config.public_url.clone(),
    );
    let mut findings = crate::doctor::run(&store, &keyring, &integrations, SystemClock.now()).await;
    let tokens = crate::tokens::TokenService::new(
        store.clone(),
        keyring,
        egress,
        Arc::new(SystemClock),
        Arc::default(),
        Arc::default(),
        Arc::default(),
    );
    findings.extend(crate::doctor::shared_identities(&store, &tokens).await);
    let receivers = super::build_webhook_egress(config)?;
    findings.extend(crate::doctor::webhooks(&store, &receivers).await);
    for f in &findings {
        println!("{}", f.line());
    }
    let failed = findings.iter().filter(|f| f.failed()).count();
    if failed > 0 {
        bail!("{failed} problem(s) found");
    }
    Ok(())
}
