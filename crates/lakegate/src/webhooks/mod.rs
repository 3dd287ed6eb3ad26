//! Webhooks: what the platform is told, in what form, and how it is signed. Pure; the
//! endpoints and the outbox live in the store, delivery in `service.rs`.
//!
//! Deliveries follow the Standard Webhooks scheme: headers `webhook-id` (the message id,
//! the same on every retry), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature` (`v1,` then base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
//! with the base64 part of the endpoint's `whsec_` secret).

mod delivery;
pub mod service;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::secret::Secret;

/// The events an endpoint may subscribe to.
pub const EVENTS: [&str; 5] = [
    "credential.reauth_required",
    "credential.reauth_soon",
    "integration.client_rejected",
    "connection.created",
    "connection.deleted",
];

/// The event an audit action announces, if any: webhooks are written with the audit event
/// of the same change, so an event is sent exactly when it is recorded.
pub fn event_for(action: &str) -> Option<&'static str> {
    match action {
        "credential.reauth_required" => Some(EVENTS[0]),
        "credential.reauth_soon" => Some(EVENTS[1]),
        "integration.client_rejected" => Some(EVENTS[2]),
        "connection.create" => Some(EVENTS[3]),
        "connection.delete" => Some(EVENTS[4]),
        _ => None,
    }
}

/// The body of a delivery: `{type, timestamp, data}`, where data holds the org, the object
/// the event is about, and the audit event's details (never secrets).
pub fn payload(
    event: &str,
    at: i64,
    org_id: &str,
    target: Option<&str>,
    details: &Map<String, Value>,
) -> Value {
    let mut data = details.clone();
    data.insert("org_id".into(), json!(org_id));
    if let Some(target) = target {
        let key = if event.starts_with("integration.") {
            "integration_id"
        } else {
            "connection_id"
        };
        data.insert(key.into(), json!(target));
    }
    json!({
        "type": event,
        "timestamp": crate::clock::rfc3339(at),
        "data": data,
    })
}

/// Parses a subscription list: known events, each once, at least one.
pub fn parse_events(list: &[String]) -> Result<Vec<&'static str>, String> {
    if list.is_empty() {
        return Err(format!(
            "events must name at least one of: {}",
            EVENTS.join(", ")
        ));
    }
    let mut out: Vec<&'static str> = Vec::new();
    for name in list {
        let Some(event) = EVENTS.iter().find(|e| **e == name.as_str()) else {
            return Err(format!(
                "{name:?} is not an event; use {}",
                EVENTS.join(", ")
            ));
        };
        if !out.contains(event) {
            out.push(event);
        }
    }
    Ok(out)
}

/// The stored form of a subscription list: `,a,b,` so one `LIKE '%,type,%'` matches exactly.
pub fn stored_events(events: &[&str]) -> String {
    format!(",{},", events.join(","))
}

/// The subscription list back from its stored form.
pub fn events_of(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
pub fn new_secret() -> Secret {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rng(), key.as_mut());
    Secret::new(format!("whsec_{}", STANDARD.encode(key.as_ref())))
}

/// `webhook-signature` for one attempt: `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`.
/// None when the secret is not a `whsec_` secret.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_")?)
        .ok()
        .map(zeroize::Zeroizing::new)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(message_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Some(format!("v1,{}", STANDARD.encode(ctx.sign().as_ref())))
}

/// Seconds to wait after failed attempt number `attempts` (1-based), or None when the
/// delivery has failed for good: the Standard Webhooks schedule (immediately, then 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), about 28 hours in all.
pub fn retry_after(attempts: i64) -> Option<i64> {
    const SCHEDULE: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    usize::try_from(attempts - 1)
        .ok()
        .and_then(|i| SCHEDULE.get(i).copied())
}

/// A lease on a delivery: long enough for the request's timeout, short enough that a
/// replica that died mid-delivery is replaced soon.
pub const LEASE_SECONDS: i64 = 60;

/// After a secret's rotation, deliveries are signed with the previous secret too for a day.
pub const SECRET_GRACE_SECONDS: i64 = 86_400;

/// Delivered deliveries are kept this long (30 days) for the deliveries view, then swept.
pub const KEEP_DELIVERED_SECONDS: i64 = 30 * 86_400;

/// Only a 2xx answer delivers (a redirect is not followed: it is a failure).
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signature("not-a-secret", "m", 1, b""), None);
    }

    #[test]
    fn subscriptions_are_known_events_once() {
        let parsed = parse_events(&["connection.created".into(), "connection.created".into()]);
        assert_eq!(parsed, Ok(vec!["connection.created"]));
        assert!(parse_events(&[]).is_err());
        assert!(parse_events(&["connection.*".into()]).is_err());
        let stored = stored_events(&["a.b", "c.d"]);
        assert_eq!(stored, ",a.b,c.d,");
        assert_eq!(events_of(&stored), vec!["a.b", "c.d"]);
    }

    #[test]
    fn retries_back_off_then_stop() {
        assert_eq!(retry_after(1), Some(5));
        assert_eq!(retry_after(2), Some(300));
        assert_eq!(retry_after(7), Some(36_000));
        assert_eq!(retry_after(8), None);
        assert_eq!(retry_after(0), None);
    }

    #[test]
    fn payloads_name_the_object_and_carry_the_details() {
        let mut details = Map::new();
        details.insert("user_id".into(), json!("u1"));
        let p = payload("credential.reauth_required", 0, "o1", Some("c1"), &details);
        assert_eq!(p["type"], "credential.reauth_required");
        assert_eq!(p["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(p["data"]["connection_id"], "c1");
        assert_eq!(p["data"]["user_id"], "u1");
        assert_eq!(p["data"]["org_id"], "o1");
        let p = payload(
            "integration.client_rejected",
            0,
            "o1",
            Some("i1"),
            &Map::new(),
        );
        assert_eq!(p["data"]["integration_id"], "i1");
        assert_eq!(event_for("connection.create"), Some("connection.created"));
        assert_eq!(event_for("connection.update"), None);
    }
}
