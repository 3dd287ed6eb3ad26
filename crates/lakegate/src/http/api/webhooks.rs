//! Webhooks (admins): endpoints (the signing secret is returned once), their deliveries,
//! and replaying a finished one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::http::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::WebhookDeliveryRow;
use crate::webhooks::EVENTS;
use crate::webhooks::service::{Endpoint, Patch};

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/webhooks",
        Kind::Api,
        Access::Admin,
        "List the org's webhook endpoints",
        list,
    );
    reg.answers::<Vec<Endpoint>>(200);
    reg.add(
        M::Post,
        "/api/v1/webhooks",
        Kind::Api,
        Access::Admin,
        "Add a webhook endpoint (the signing secret is returned once)",
        create,
    );
    reg.body::<CreateEndpoint>();
    reg.answers::<Created>(201);
    reg.add(
        M::Get,
        "/api/v1/webhooks/{id}",
        Kind::Api,
        Access::Admin,
        "One webhook endpoint",
        get,
    );
    reg.answers::<Endpoint>(200);
    reg.add(
        M::Patch,
        "/api/v1/webhooks/{id}",
        Kind::Api,
        Access::Admin,
        "Change a webhook endpoint's URL, events or enabled flag",
        update,
    );
    reg.body::<UpdateEndpoint>();
    reg.answers::<Endpoint>(200);
    reg.add(
        M::Delete,
        "/api/v1/webhooks/{id}",
        Kind::Api,
        Access::Admin,
        "Delete a webhook endpoint and its deliveries",
        delete,
    );
    reg.answers_empty(204);
    reg.add(
        M::Post,
        "/api/v1/webhooks/{id}/rotate-secret",
        Kind::Api,
        Access::Admin,
        "Give an endpoint a new signing secret (returned once); the old one also signs for a day",
        rotate_secret,
    );
    reg.answers::<Created>(200);
    reg.add(
        M::Get,
        "/api/v1/webhooks/{id}/deliveries",
        Kind::Api,
        Access::Admin,
        "An endpoint's deliveries, newest first (`?status=failed` for the failed ones)",
        deliveries,
    );
    reg.query::<DeliveryFilter>();
    reg.answers::<Vec<Delivery>>(200);
    reg.add(
        M::Post,
        "/api/v1/webhooks/{id}/deliveries/{message_id}/replay",
        Kind::Api,
        Access::Admin,
        "Send a finished delivery again, with the same webhook-id",
        replay,
    );
    reg.answers_empty(204);
}

/// The events an endpoint may subscribe to, for the schema.
fn event_names(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": EVENTS}})
}

/// The same, or null (a change that leaves them).
fn optional_event_names(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["array", "null"], "minItems": 1, "items": {"type": "string", "enum": EVENTS}})
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    /// Where deliveries are posted: https (plain http and private addresses only where
    /// `[webhooks]` allows them).
    #[schemars(length(max = 2000))]
    url: String,
    #[schemars(schema_with = "event_names")]
    events: Vec<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateEndpoint {
    #[schemars(length(max = 2000))]
    url: Option<String>,
    // `default` also tells the schema it is optional (a `schema_with` field is required).
    #[serde(default)]
    #[schemars(schema_with = "optional_event_names")]
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Created {
    /// The signing secret (`whsec_…`), shown this once.
    secret: String,
    #[serde(flatten)]
    endpoint: Endpoint,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Delivery {
    /// The `webhook-id` header: the same on every attempt and replay.
    message_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: Option<i64>,
    delivered_at: Option<i64>,
    /// The receiver's last HTTP status.
    last_status: Option<i64>,
    last_error: Option<String>,
    /// The body that was (or will be) posted.
    payload: serde_json::Value,
}

impl From<WebhookDeliveryRow> for Delivery {
    fn from(d: WebhookDeliveryRow) -> Self {
        Delivery {
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            payload: serde_json::from_str(&d.payload).unwrap_or_default(),
            message_id: d.message_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            last_status: d.last_status,
            last_error: d.last_error,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeliveryFilter {
    status: Option<DeliveryStatus>,
    /// At most this many (default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<i64>,
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<Endpoint>>> {
    Ok(ApiJson(state.services.webhooks.list(&p.org.id).await?))
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> ApiResult<(StatusCode, ApiJson<Created>)> {
    let (endpoint, secret) = state
        .services
        .webhooks
        .create(&actor, &p.org.id, &body.url, &body.events)
        .await?;
    let secret = secret.expose().to_owned();
    Ok((StatusCode::CREATED, ApiJson(Created { secret, endpoint })))
}

async fn get(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Endpoint>> {
    Ok(ApiJson(state.services.webhooks.get(&p.org.id, &id).await?))
}

async fn update(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEndpoint>,
) -> ApiResult<ApiJson<Endpoint>> {
    let patch = Patch {
        url: body.url,
        events: body.events,
        enabled: body.enabled,
    };
    Ok(ApiJson(
        state
            .services
            .webhooks
            .update(&actor, &p.org.id, &id, patch)
            .await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .webhooks
        .delete(&actor, &p.org.id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_secret(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Created>> {
    let (endpoint, secret) = state
        .services
        .webhooks
        .rotate_secret(&actor, &p.org.id, &id)
        .await?;
    let secret = secret.expose().to_owned();
    Ok(ApiJson(Created { secret, endpoint }))
}

async fn deliveries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(filter): ApiQuery<DeliveryFilter>,
) -> ApiResult<ApiJson<Vec<Delivery>>> {
    let limit = filter.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let rows = state
        .services
        .webhooks
        .deliveries(
            &p.org.id,
            Some(&id),
            filter.status.map(DeliveryStatus::as_str),
            limit,
        )
        .await?;
    Ok(ApiJson(rows.into_iter().map(Delivery::from).collect()))
}

async fn replay(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .webhooks
        .replay(&actor, &p.org.id, &id, &message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
