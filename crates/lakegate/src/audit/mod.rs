//! Audit events: who did what to which object, from where, with what outcome.
//! Details are small JSON objects and never carry secrets.

use serde_json::{Map, Value};

use crate::store::{Announcement, NewAuditEvent, Store, StoreResult};
use crate::webhooks;

/// Who acts, and the request context an event records.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The org the action happens in (None for installation-wide actions such as `org.create`).
    pub org_id: Option<String>,
    /// `user:<id>`, `token:<id>` or `cli`.
    pub label: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The local operator running a `lakegate` command.
    pub fn cli(org_id: Option<String>) -> Actor {
        Actor {
            org_id,
            label: "cli".into(),
            client_ip: None,
            request_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One event to append.
pub struct Event<'a> {
    pub action: &'static str,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub details: Vec<(&'a str, Value)>,
}

impl<'a> Event<'a> {
    pub fn success(action: &'static str, target: impl Into<Option<String>>) -> Self {
        Event {
            action,
            target: target.into(),
            outcome: Outcome::Success,
            details: vec![],
        }
    }
    pub fn failure(action: &'static str, target: impl Into<Option<String>>) -> Self {
        Event {
            action,
            target: target.into(),
            outcome: Outcome::Failure,
            details: vec![],
        }
    }
    pub fn with(mut self, key: &'a str, value: impl Into<Value>) -> Self {
        self.details.push((key, value.into()));
        self
    }
}

/// Appends `event` by `actor` at `now`; an event that webhooks announce is put in the
/// outbox in the same transaction (`crate::webhooks`).
pub async fn record(store: &Store, actor: &Actor, now: i64, event: Event<'_>) -> StoreResult<()> {
    let details: Map<String, Value> = event
        .details
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let announcement = match (webhooks::event_for(event.action), &actor.org_id) {
        (Some(kind), Some(org_id)) => {
            Some(announcement(store, kind, now, org_id, event.target.as_deref(), &details).await?)
        }
        _ => None,
    };
    let row = NewAuditEvent {
        at: now,
        org_id: actor.org_id.clone(),
        actor: actor.label.clone(),
        action: event.action.to_owned(),
        target: event.target,
        outcome: event.outcome.as_str().to_owned(),
        client_ip: actor.client_ip.clone(),
        request_id: actor.request_id.clone(),
        details: Value::Object(details).to_string(),
    };
    match announcement {
        Some(a) => store.append_audit_announcing(&row, &a).await,
        None => store.append_audit(&row).await,
    }
}

/// The delivery body of an announced event, with the user's external id when the event is
/// about a user (the embedding platform knows its users by it).
async fn announcement(
    store: &Store,
    kind: &'static str,
    now: i64,
    org_id: &str,
    target: Option<&str>,
    details: &Map<String, Value>,
) -> StoreResult<Announcement> {
    let mut data = details.clone();
    if let Some(user_id) = details.get("user_id").and_then(Value::as_str)
        && let Some(user) = store.user_in_org(org_id, user_id).await?
        && let Some(external) = user.external_id
    {
        data.insert("user_external_id".into(), Value::String(external));
    }
    Ok(Announcement {
        message_id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
        event_type: kind,
        payload: webhooks::payload(kind, now, org_id, target, &data).to_string(),
    })
}
