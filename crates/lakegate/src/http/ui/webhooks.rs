//! Settings › Advanced › Webhooks (admins): endpoints (the signing secret shown once), the
//! failed deliveries with a replay button, and removing an endpoint.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::auth::{Access, Principal};
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::store::WebhookDeliveryRow;
use crate::webhooks::EVENTS;
use crate::webhooks::service::Endpoint;

const PATH: &str = "/settings/advanced/webhooks";

pub fn register(reg: &mut Registry) {
    reg.add(M::Get, PATH, Kind::Page, Access::Admin, "Webhooks", page);
    reg.add(
        M::Post,
        PATH,
        Kind::Page,
        Access::Admin,
        "Add a webhook endpoint",
        create,
    );
    reg.add(
        M::Post,
        "/settings/advanced/webhooks/{id}/rotate-secret",
        Kind::Page,
        Access::Admin,
        "Give a webhook endpoint a new signing secret",
        rotate_secret,
    );
    reg.add(
        M::Post,
        "/settings/advanced/webhooks/{id}/delete",
        Kind::Page,
        Access::Admin,
        "Delete a webhook endpoint",
        delete,
    );
    reg.add(
        M::Post,
        "/settings/advanced/webhooks/{id}/deliveries/{message_id}/replay",
        Kind::Page,
        Access::Admin,
        "Send a failed delivery again",
        replay,
    );
}

#[derive(Deserialize)]
struct NewEndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Option<Nav>,
    csrf: String,
    endpoints: Vec<Endpoint>,
    failed: Vec<WebhookDeliveryRow>,
    events: [&'static str; 5],
    new_secret: Option<String>,
    error: Option<String>,
}

impl WebhooksPage {
    fn when(&self, t: &i64) -> String {
        crate::clock::rfc3339(*t)
    }

    fn url_of(&self, endpoint_id: &str) -> &str {
        self.endpoints
            .iter()
            .find(|e| e.id == endpoint_id)
            .map_or("", |e| e.url.as_str())
    }
}

/// Failed deliveries shown on the page.
const FAILED_SHOWN: i64 = 50;

async fn view(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    new_secret: Option<String>,
    error: Option<String>,
) -> Response {
    let hooks = &state.services.webhooks;
    let (endpoints, failed) = match (
        hooks.list(&p.org.id).await,
        hooks
            .deliveries(&p.org.id, None, Some("failed"), FAILED_SHOWN)
            .await,
    ) {
        (Ok(e), Ok(f)) => (e, f),
        (Err(e), _) | (_, Err(e)) => return error_page(e.into()),
    };
    let nav = Nav::of(p);
    let csrf = nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default();
    let page = WebhooksPage {
        nav,
        csrf,
        endpoints,
        failed,
        events: EVENTS,
        new_secret,
        error,
    };
    render(status, &page)
}

async fn page(State(state): State<AppState>, Auth(p): Auth) -> Response {
    view(&state, &p, StatusCode::OK, None, None).await
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<NewEndpointForm>,
) -> Response {
    match state
        .services
        .webhooks
        .create(&actor, &p.org.id, &form.url, &form.events)
        .await
    {
        Ok((_, secret)) => {
            let shown = Some(secret.expose().to_owned());
            view(&state, &p, StatusCode::CREATED, shown, None).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            view(&state, &p, e.status, None, Some(e.message)).await
        }
    }
}

async fn rotate_secret(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state
        .services
        .webhooks
        .rotate_secret(&actor, &p.org.id, &id)
        .await
    {
        Ok((_, secret)) => {
            let shown = Some(secret.expose().to_owned());
            view(&state, &p, StatusCode::OK, shown, None).await
        }
        Err(e) => error_page(e.into()),
    }
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> Response {
    match state.services.webhooks.delete(&actor, &p.org.id, &id).await {
        Ok(()) => Redirect::to(PATH).into_response(),
        Err(e) => error_page(e.into()),
    }
}

async fn replay(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path((id, message_id)): Path<(String, String)>,
) -> Response {
    match state
        .services
        .webhooks
        .replay(&actor, &p.org.id, &id, &message_id)
        .await
    {
        Ok(()) => Redirect::to(PATH).into_response(),
        Err(e) => error_page(e.into()),
    }
}
