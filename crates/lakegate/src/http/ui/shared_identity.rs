//! The page forms of shared identities and fallbacks: a new secret or token for an OAuth
//! M2M or personal-access-token connection (its owner or an admin), its token vending (an
//! admin), and a U2M connection's fallback (its owner or an admin). Each answers by
//! showing the connection's page again, with what happened.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageForm;
use super::connection_page::{DetailQuery, detail_page};
use crate::audit::Actor;
use crate::auth::{Access, Principal, Scope};
use crate::connections::shared::SharedSecret;
use crate::connections::{ConnectionError, Patch, Purpose};
use crate::http::error::ApiError;
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers::{self, Renewal};
use crate::secret::Secret;
use crate::store::ConnectionRow;

pub fn register(reg: &mut Registry) {
    let write = Access::User(Some(Scope::ConnectionsWrite));
    reg.add(
        M::Post,
        "/connections/{id}/secret",
        Kind::Page,
        write,
        "A shared identity's new secret or token",
        secret,
    );
    reg.add(
        M::Post,
        "/connections/{id}/vending",
        Kind::Page,
        write,
        "A shared identity's token vending (admins)",
        vending,
    );
    reg.add(
        M::Post,
        "/connections/{id}/fallback",
        Kind::Page,
        write,
        "A connection's fallback identity",
        fallback,
    );
}

/// The connection page again, saved or with the error.
async fn after(
    state: &AppState,
    p: &Principal,
    id: &str,
    done: Result<(), ConnectionError>,
) -> Response {
    match done {
        Ok(()) => Redirect::to(&format!("/connections/{id}?saved=1")).into_response(),
        Err(ConnectionError::NotFound) => super::connections::page_error(ConnectionError::NotFound),
        Err(e) => {
            let e = ApiError::from(e);
            detail_page(
                state,
                p,
                id,
                e.status,
                DetailQuery::default(),
                None,
                Some(e.message),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct SecretForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    token: String,
}

/// The secret a form gives for `c`'s kind of shared identity.
pub(super) fn form_secret(
    renewal: Renewal,
    client_id: String,
    client_secret: String,
    token: String,
) -> Result<SharedSecret, ConnectionError> {
    match renewal {
        Renewal::ClientCredentials if !client_secret.is_empty() => Ok(SharedSecret::M2m {
            client_id: client_id.trim().to_owned(),
            secret: Secret::new(client_secret),
        }),
        Renewal::Static if !token.trim().is_empty() => Ok(SharedSecret::Pat {
            token: Secret::new(token.trim().to_owned()),
        }),
        Renewal::ClientCredentials => Err(ConnectionError::Invalid(
            "paste the service principal's secret".into(),
        )),
        _ => Err(ConnectionError::Invalid(
            "paste the personal access token".into(),
        )),
    }
}

async fn renewal_of(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<(ConnectionRow, Renewal), ConnectionError> {
    let c = state.services.connections.load(p, id, Purpose::See).await?;
    let renewal = providers::by_connection(&c.provider, &c.auth)
        .map(|p| p.info().renewal)
        .ok_or(ConnectionError::NoIntegration)?;
    Ok((c, renewal))
}

async fn secret(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    PageForm(form): PageForm<SecretForm>,
) -> Response {
    let done = async {
        let (_, renewal) = renewal_of(&state, &p, &id).await?;
        let secret = form_secret(renewal, form.client_id, form.client_secret, form.token)?;
        state
            .services
            .connections
            .replace_secret(&p, &actor, &id, secret)
            .await
    }
    .await;
    after(&state, &p, &id, done).await
}

#[derive(Deserialize)]
struct VendingForm {
    token_vending: Option<String>,
}

async fn vending(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    PageForm(form): PageForm<VendingForm>,
) -> Response {
    let patch = Patch {
        token_vending: Some(form.token_vending.is_some()),
        ..Patch::default()
    };
    let done = update(&state, &p, &actor, &id, patch).await;
    after(&state, &p, &id, done).await
}

#[derive(Deserialize)]
struct FallbackForm {
    #[serde(default)]
    fallback_connection_id: String,
}

async fn fallback(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    PageForm(form): PageForm<FallbackForm>,
) -> Response {
    let patch = Patch {
        fallback_connection_id: Some(form.fallback_connection_id),
        ..Patch::default()
    };
    let done = update(&state, &p, &actor, &id, patch).await;
    after(&state, &p, &id, done).await
}

async fn update(
    state: &AppState,
    p: &Principal,
    actor: &Actor,
    id: &str,
    patch: Patch,
) -> Result<(), ConnectionError> {
    state
        .services
        .connections
        .update(p, actor, id, patch)
        .await
        .map(|_| ())
}

/// The connections `p` may name as `c`'s fallback: service principals of its workspace.
pub(super) async fn fallback_choices(
    state: &AppState,
    p: &Principal,
    c: &ConnectionRow,
) -> Vec<(String, String)> {
    let Ok(all) = state.services.connections.visible(p).await else {
        return vec![];
    };
    all.into_iter()
        .filter(|f| crate::connections::fallback::check_pair(c, f).is_ok())
        .map(|f| (f.id, f.name))
        .collect()
}
