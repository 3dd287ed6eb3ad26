//! Delivery from the outbox: any replica takes a due delivery under a lease, signs it with
//! the endpoint's secret (and, during a rotation's grace period, its previous one), posts it
//! through the webhook egress client and records the attempt; failures back off.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::service::{WebhookError, WebhookService, secret_binding};
use super::{LEASE_SECONDS, delivered, retry_after, signature};
use crate::egress::{Destination, Egress, EgressError, Request};
use crate::store::{Attempt, WebhookDeliveryRow};

/// Deliveries taken per pass.
const BATCH: i64 = 50;
/// Deliveries attempted at once by one replica.
const CONCURRENCY: usize = 8;
/// A receiver has this long to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

impl WebhookService {
    /// One pass over due deliveries; returns how many were delivered.
    pub async fn deliver_due(&self) -> usize {
        let Some(egress) = &self.egress else {
            return 0;
        };
        let now = self.clock.now();
        let due = match self.store.due_webhook_deliveries(now, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not read due webhook deliveries");
                return 0;
            }
        };
        // Several at a time, so one slow receiver does not hold up the others' deliveries.
        let delivered = std::sync::atomic::AtomicUsize::new(0);
        futures_util::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |d| {
                let delivered = &delivered;
                async move {
                    if self.take(egress, &d, now).await {
                        delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
            .await;
        delivered.into_inner()
    }

    /// Claims one due delivery and attempts it; true when it was delivered.
    async fn take(&self, egress: &Egress, d: &WebhookDeliveryRow, now: i64) -> bool {
        match self.claim(d, now).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "could not take a webhook delivery");
                return false;
            }
        }
        if self.failpoints.hit("webhook:claimed").await {
            // As if the process died holding the lease: it lapses, another sends it.
            return false;
        }
        match self.attempt(egress, d).await {
            Ok(delivered) => delivered,
            Err(e) => {
                tracing::warn!(
                    error = %e, message_id = %d.message_id, endpoint_id = %d.endpoint_id,
                    "webhook delivery not recorded"
                );
                false
            }
        }
    }

    /// Takes the lease on a due delivery (a replica that dies holding it is replaced once
    /// it lapses).
    pub async fn claim(&self, d: &WebhookDeliveryRow, now: i64) -> Result<bool, WebhookError> {
        Ok(self
            .store
            .claim_webhook_delivery(d, &self.owner, now, now + LEASE_SECONDS)
            .await?)
    }

    /// Posts one claimed delivery and records the attempt; true when delivered.
    async fn attempt(&self, egress: &Egress, d: &WebhookDeliveryRow) -> Result<bool, WebhookError> {
        let Some(endpoint) = self
            .store
            .webhook_endpoint(&d.org_id, &d.endpoint_id)
            .await?
        else {
            return Ok(false);
        };
        let mut secrets = vec![
            self.keyring
                .open(
                    &self.store,
                    secret_binding(&d.org_id, &endpoint.id, "secret"),
                    &endpoint.secret_enc,
                )
                .await?,
        ];
        // During a rotation's grace period the previous secret signs too.
        if let (Some(enc), Some(until)) = (
            &endpoint.previous_secret_enc,
            endpoint.previous_secret_until,
        ) && self.clock.now() < until
        {
            let binding = secret_binding(&d.org_id, &endpoint.id, "previous_secret");
            secrets.push(self.keyring.open(&self.store, binding, enc).await?);
        }
        let body: Value = serde_json::from_str(&d.payload)
            .map_err(|e| WebhookError::Invalid(format!("stored payload: {e}")))?;
        let result = self.post(egress, &endpoint.url, d, &secrets, &body).await;
        let now = self.clock.now();
        let attempts = d.attempts + 1;
        let (status, last_status, error) = match &result {
            Ok(code) if delivered(*code) => ("delivered", Some(i64::from(*code)), None),
            Ok(code) => (
                "pending",
                Some(i64::from(*code)),
                Some(format!("the receiver answered {code}")),
            ),
            Err(e) => ("pending", None, Some(e.to_string())),
        };
        let (status, next) = match (status, retry_after(attempts)) {
            ("delivered", _) => ("delivered", now),
            (_, Some(wait)) => ("pending", now + wait),
            (_, None) => ("failed", now),
        };
        if let Some(error) = &error {
            tracing::warn!(
                message_id = %d.message_id, endpoint_id = %d.endpoint_id, attempts,
                next_attempt_at = next, status, error = %error, "webhook delivery failed"
            );
        }
        let attempt = Attempt {
            status,
            attempts,
            next_attempt_at: next,
            last_status,
            last_error: error.as_deref(),
            delivered_at: (status == "delivered").then_some(now),
        };
        self.metrics.webhook_attempt(match status {
            "pending" => "retry",
            other => other,
        });
        self.store
            .finish_webhook_attempt(d, &self.owner, &attempt)
            .await?;
        Ok(status == "delivered")
    }

    async fn post(
        &self,
        egress: &Egress,
        url: &str,
        d: &WebhookDeliveryRow,
        secrets: &[zeroize::Zeroizing<Vec<u8>>],
        body: &Value,
    ) -> Result<u16, EgressError> {
        let url = url::Url::parse(url).map_err(|e| EgressError::Refused(e.to_string()))?;
        let timestamp = self.clock.now();
        // The egress client sends `serde_json::to_vec(body)`: sign exactly those bytes.
        let bytes = serde_json::to_vec(body).map_err(|e| EgressError::Refused(e.to_string()))?;
        // One signature per secret, space-separated (Standard Webhooks' rotation form).
        let signed = secrets
            .iter()
            .map(|secret| {
                std::str::from_utf8(secret)
                    .ok()
                    .and_then(|s| signature(s, &d.message_id, timestamp, &bytes))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EgressError::Refused("the endpoint's secret is unreadable".into()))?
            .join(" ");
        let headers = [
            ("webhook-id".to_owned(), d.message_id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signed),
        ];
        let resp = egress
            .send(Request {
                method: reqwest::Method::POST,
                destination: Destination::Webhook,
                headers: &headers,
                json: Some(body),
                timeout: TIMEOUT,
                max_bytes: 64 * 1024,
                ..Request::get(&url)
            })
            .await;
        match resp {
            Ok(resp) => Ok(resp.status),
            // The receiver's status is its answer; a long body after it changes nothing.
            Err(EgressError::TooLarge { status, .. }) => Ok(status),
            Err(e) => Err(e),
        }
    }
}
