//! Warnings before a forced re-consent: when an integration's absolute session lifetime
//! will end a credential's sign-in within the warning time, its user is told once (an audit
//! event, and a banner on their connection page).

use std::collections::HashMap;

use crate::audit::{self, Event};
use crate::store::{IntegrationRow, Store};
use crate::tokens::system_actor;

/// Credentials looked at per pass.
const BATCH: i64 = 500;

/// When the sign-in that started at `session_started_at` must be renewed, if the
/// integration has an absolute lifetime. Pure.
pub fn forced_at(session_started_at: i64, integration: &IntegrationRow) -> Option<i64> {
    integration
        .absolute_lifetime_minutes
        .map(|m| session_started_at + m * 60)
}

/// One pass; returns how many users were warned.
pub async fn warn_due(store: &Store, now: i64, warning_seconds: i64) -> usize {
    let Ok(rows) = store.unwarned_credentials(BATCH).await else {
        return 0;
    };
    let mut integrations: HashMap<String, Option<IntegrationRow>> = HashMap::new();
    let mut warned = 0;
    for cred in rows {
        if !integrations.contains_key(&cred.integration_id) {
            let found = store
                .integration_for(&cred.org_id, &cred.integration_id, &cred.host)
                .await
                .ok()
                .flatten();
            integrations.insert(cred.integration_id.clone(), found);
        }
        let Some(Some(integration)) = integrations.get(&cred.integration_id) else {
            continue;
        };
        let Some(forced) = forced_at(cred.session_started_at, integration) else {
            continue;
        };
        if now < forced - warning_seconds {
            continue;
        }
        if store.mark_warned(&cred.id, now).await.unwrap_or(false) {
            let event = Event::success("credential.reauth_soon", cred.connection_id.clone())
                .with("user_id", cred.user_id.clone())
                .with("sign_in_needed_by", crate::clock::rfc3339(forced));
            if audit::record(store, &system_actor(&cred.org_id), now, event)
                .await
                .is_ok()
            {
                warned += 1;
            }
        }
    }
    warned
}
