//! The route matrix's webhook fixture: an endpoint of org A, and for the replay routes one
//! failed delivery named after it.

use lakegate::clock::Clock;

use super::world::World;

impl World {
    /// A webhook endpoint of org A, with one failed delivery (`msg_<id>`) when `delivery`.
    pub(super) async fn webhook(&self, delivery: bool) -> String {
        let org = &self.org_a.id;
        let actor = lakegate::audit::Actor::cli(Some(org.clone()));
        let (endpoint, _) = self
            .app
            .state
            .services
            .webhooks
            .create(
                &actor,
                org,
                "https://hooks.example.com/x",
                &["connection.created".into()],
            )
            .await
            .unwrap();
        if delivery {
            let store = &self.app.store;
            let now = self.app.clock.now();
            let event = lakegate::store::NewAuditEvent {
                at: now,
                org_id: Some(org.clone()),
                actor: "matrix".into(),
                action: "connection.create".into(),
                target: None,
                outcome: "success".into(),
                client_ip: None,
                request_id: None,
                details: "{}".into(),
            };
            let message_id = format!("msg_{}", endpoint.id);
            let announce = lakegate::store::Announcement {
                message_id: message_id.clone(),
                event_type: "connection.created",
                payload: "{}".into(),
            };
            store
                .append_audit_announcing(&event, &announce)
                .await
                .unwrap();
            let d = lakegate::store::WebhookDeliveryRow {
                message_id: message_id.clone(),
                endpoint_id: endpoint.id.clone(),
                org_id: org.clone(),
                event_type: "connection.created".into(),
                payload: "{}".into(),
                created_at: now,
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                last_status: None,
                last_error: None,
                delivered_at: None,
            };
            let d = &d;
            assert!(
                store
                    .claim_webhook_delivery(d, "matrix", now, now + 60)
                    .await
                    .unwrap()
            );
            let failed = lakegate::store::Attempt {
                status: "failed",
                attempts: 1,
                next_attempt_at: now,
                last_status: Some(500),
                last_error: None,
                delivered_at: None,
            };
            assert!(
                store
                    .finish_webhook_attempt(d, "matrix", &failed)
                    .await
                    .unwrap()
            );
        }
        endpoint.id
    }
}
