//! Webhook endpoints (admins manage them; every change audited): create, change, rotate the
//! secret, delete, list deliveries, replay. Delivery itself is `delivery.rs`.

use std::sync::Arc;

use super::{SECRET_GRACE_SECONDS, events_of, new_secret, parse_events, stored_events};
use crate::audit::{self, Actor, Event};
use crate::clock::Clock;
use crate::crypto::envelope::{Binding, CryptoError, Keyring};
use crate::egress::{Destination, Egress};
use crate::failpoint::Failpoints;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::store::{Store, StoreError, WebhookDeliveryRow, WebhookEndpointRow};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such webhook")]
    NotFound,
    #[error("no such delivery, or it is still pending")]
    NoDelivery,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An endpoint as admins see it (never the secret).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
    /// Until when deliveries are also signed with the secret before the last rotation.
    pub previous_secret_until: Option<i64>,
}

impl From<WebhookEndpointRow> for Endpoint {
    fn from(r: WebhookEndpointRow) -> Self {
        Endpoint {
            id: r.id,
            url: r.url,
            events: events_of(&r.events),
            enabled: r.enabled != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
            previous_secret_until: r.previous_secret_until,
        }
    }
}

/// A change to an endpoint; absent fields stay.
#[derive(Debug, Default)]
pub struct Patch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Where an endpoint's secret belongs (`secret`, or `previous_secret` after a rotation).
pub(super) fn secret_binding<'a>(org_id: &'a str, id: &'a str, column: &'a str) -> Binding<'a> {
    Binding {
        org_id,
        table: "webhook_endpoints",
        row_id: id,
        column,
    }
}

#[derive(Clone)]
pub struct WebhookService {
    pub(super) store: Store,
    pub(super) keyring: Arc<Keyring>,
    /// None: this process was built without a webhook client and delivers nothing.
    pub(super) egress: Option<Egress>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) failpoints: Arc<Failpoints>,
    /// This replica's name on the leases it takes.
    pub(super) owner: String,
}

impl WebhookService {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        egress: Option<Egress>,
        clock: Arc<dyn Clock>,
        (metrics, failpoints): (Arc<Metrics>, Arc<Failpoints>),
    ) -> Self {
        WebhookService {
            store,
            keyring,
            egress,
            clock,
            metrics,
            failpoints,
            owner: format!("wh-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The client deliveries go through, if any.
    pub fn egress(&self) -> Option<&Egress> {
        self.egress.as_ref()
    }

    /// A URL an endpoint may have: http(s), no user information, and an address the webhook
    /// client may reach (an IP literal is judged now; a name when it is resolved).
    fn check_url(&self, raw: &str) -> Result<String, WebhookError> {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| WebhookError::Invalid(format!("{raw:?} is not a URL")))?;
        if let Some(egress) = &self.egress {
            egress.check_for(&url, Destination::Webhook).map_err(|e| {
                WebhookError::Invalid(format!(
                    "url is {e} (see webhooks.allowed_cidrs and webhooks.insecure_http_hosts)"
                ))
            })?;
        } else if url.scheme() != "https" {
            return Err(WebhookError::Invalid("url must be https".into()));
        }
        Ok(url.to_string())
    }

    /// Creates an endpoint; the signing secret is returned this once.
    pub async fn create(
        &self,
        actor: &Actor,
        org_id: &str,
        url: &str,
        events: &[String],
    ) -> Result<(Endpoint, Secret), WebhookError> {
        let url = self.check_url(url)?;
        let events = parse_events(events).map_err(WebhookError::Invalid)?;
        let now = self.clock.now();
        let id = format!("wh_{}", uuid::Uuid::now_v7().simple());
        let secret = new_secret();
        let secret_enc = self
            .keyring
            .seal(
                &self.store,
                secret_binding(org_id, &id, "secret"),
                secret.expose().as_bytes(),
                now,
            )
            .await?;
        let row = WebhookEndpointRow {
            id: id.clone(),
            org_id: org_id.to_owned(),
            url,
            events: stored_events(&events),
            secret_enc,
            previous_secret_enc: None,
            previous_secret_until: None,
            enabled: 1,
            created_at: now,
            updated_at: now,
            updated_by: actor.label.clone(),
        };
        self.store.insert_webhook_endpoint(&row).await?;
        let event = Event::success("webhook.create", id)
            .with("url", row.url.clone())
            .with("events", events.join(","));
        audit::record(&self.store, actor, now, event).await?;
        Ok((row.into(), secret))
    }

    pub async fn list(&self, org_id: &str) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self
            .store
            .webhook_endpoints(org_id)
            .await?
            .into_iter()
            .map(Endpoint::from)
            .collect())
    }

    async fn row(&self, org_id: &str, id: &str) -> Result<WebhookEndpointRow, WebhookError> {
        self.store
            .webhook_endpoint(org_id, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    pub async fn get(&self, org_id: &str, id: &str) -> Result<Endpoint, WebhookError> {
        Ok(self.row(org_id, id).await?.into())
    }

    pub async fn update(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        patch: Patch,
    ) -> Result<Endpoint, WebhookError> {
        let mut row = self.row(org_id, id).await?;
        if let Some(url) = &patch.url {
            row.url = self.check_url(url)?;
        }
        if let Some(events) = &patch.events {
            row.events = stored_events(&parse_events(events).map_err(WebhookError::Invalid)?);
        }
        if let Some(enabled) = patch.enabled {
            row.enabled = i64::from(enabled);
        }
        let now = self.clock.now();
        row.updated_at = now;
        row.updated_by = actor.label.clone();
        if !self.store.update_webhook_endpoint(&row).await? {
            return Err(WebhookError::NotFound);
        }
        let event = Event::success("webhook.update", id.to_owned())
            .with("url", row.url.clone())
            .with("events", events_of(&row.events).join(","))
            .with("enabled", row.enabled != 0);
        audit::record(&self.store, actor, now, event).await?;
        Ok(row.into())
    }

    /// Gives an endpoint a new secret, returned this once; deliveries are signed with the
    /// old one too for `SECRET_GRACE_SECONDS`, so the receiver can switch without a gap.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
    ) -> Result<(Endpoint, Secret), WebhookError> {
        let mut row = self.row(org_id, id).await?;
        let now = self.clock.now();
        let old = self
            .keyring
            .open(
                &self.store,
                secret_binding(org_id, id, "secret"),
                &row.secret_enc,
            )
            .await?;
        let previous_enc = self
            .keyring
            .seal(
                &self.store,
                secret_binding(org_id, id, "previous_secret"),
                &old,
                now,
            )
            .await?;
        let secret = new_secret();
        let secret_enc = self
            .keyring
            .seal(
                &self.store,
                secret_binding(org_id, id, "secret"),
                secret.expose().as_bytes(),
                now,
            )
            .await?;
        row.updated_at = now;
        row.updated_by = actor.label.clone();
        let until = now + SECRET_GRACE_SECONDS;
        if !self
            .store
            .rotate_webhook_secret(&row, &secret_enc, &previous_enc, until)
            .await?
        {
            return Err(WebhookError::Invalid(
                "the endpoint changed meanwhile: try again".into(),
            ));
        }
        row.previous_secret_until = Some(until);
        let event = Event::success("webhook.rotate_secret", id.to_owned())
            .with("previous_secret_until", crate::clock::rfc3339(until));
        audit::record(&self.store, actor, now, event).await?;
        Ok((row.into(), secret))
    }

    pub async fn delete(&self, actor: &Actor, org_id: &str, id: &str) -> Result<(), WebhookError> {
        if !self.store.delete_webhook_endpoint(org_id, id).await? {
            return Err(WebhookError::NotFound);
        }
        let event = Event::success("webhook.delete", id.to_owned());
        audit::record(&self.store, actor, self.clock.now(), event).await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, optionally of one status.
    pub async fn deliveries(
        &self,
        org_id: &str,
        id: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<WebhookDeliveryRow>, WebhookError> {
        if let Some(id) = id {
            self.row(org_id, id).await?;
        }
        Ok(self
            .store
            .webhook_deliveries(org_id, id, status, limit)
            .await?)
    }

    /// Sends a finished delivery again, with the same message id, from the first attempt.
    pub async fn replay(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        message_id: &str,
    ) -> Result<(), WebhookError> {
        let now = self.clock.now();
        if !self
            .store
            .replay_webhook_delivery(org_id, id, message_id, now)
            .await?
        {
            return Err(WebhookError::NoDelivery);
        }
        let event = Event::success("webhook.replay", id.to_owned()).with("message_id", message_id);
        audit::record(&self.store, actor, now, event).await?;
        Ok(())
    }
}
