//! Connect sessions: a platform's backend asks for a one-time link that signs one of its
//! end users in to a warehouse in their own browser, then sends that browser back to the
//! platform (`return_url`, on the org's allow-list) with the outcome.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Principal, Scope, Via};
use crate::clock::rfc3339;
use crate::connections::Purpose;
use crate::connections::return_url::check_return_url;
use crate::http::api::connection_bodies::{CreateBody, create_for};
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, PlatformAuth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::http::ui::oauth_flow::start_url;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Post,
        "/api/v1/connect-sessions",
        Kind::Api,
        Access::Platform(Scope::ConnectWrite),
        "A one-time link that connects an end user's warehouse account in their browser",
        create,
    );
    reg.body::<SessionBody>();
    reg.answers::<SessionLink>(201);
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    /// The end user, as `PUT /api/v1/users/by-external-id/{external_id}` created them.
    #[schemars(length(min = 1, max = 200))]
    external_user_id: String,
    /// An existing connection the end user may use (theirs or shared) …
    connection_id: Option<String>,
    /// … or a new one, owned by the end user.
    connection: Option<CreateBody>,
    /// Where the browser goes afterwards; its origin must be on the org's allow-list.
    #[schemars(length(max = 2000))]
    return_url: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct SessionLink {
    /// Open this in the end user's browser (a redirect or a popup); it works once.
    url: String,
    expires_at: String,
    connection_id: String,
}

async fn create(
    State(state): State<AppState>,
    PlatformAuth(k): PlatformAuth,
    Audit(actor): Audit,
    ApiJson(b): ApiJson<SessionBody>,
) -> ApiResult<(StatusCode, ApiJson<SessionLink>)> {
    let allowed = state.store.return_origins(&k.org.id).await?;
    let return_url = check_return_url(&b.return_url, &allowed).map_err(ApiError::bad_request)?;
    let user = state
        .services
        .accounts
        .external_user(&k.org, &b.external_user_id)
        .await?;
    if user.disabled {
        return Err(ApiError::forbidden("this user is disabled"));
    }
    // The end user's own rights decide what the session may touch: the connection rules
    // look at the user only, so this principal exists for those calls and never authorises.
    let p = Principal {
        user,
        org: k.org.clone(),
        via: Via::Service {
            id: String::new(),
            name: actor.label.clone(),
            scopes: vec![Scope::ConnectionsRead, Scope::ConnectionsWrite],
        },
    };
    let conn = match (b.connection_id, b.connection) {
        (Some(id), None) => {
            state
                .services
                .connections
                .load(&p, &id, Purpose::Use)
                .await?
        }
        (None, Some(spec)) if p.may(Scope::ConnectionsWrite) => {
            create_for(&state, &p, &actor, spec).await?
        }
        (None, Some(_)) => {
            return Err(ApiError::forbidden(
                "this end user's role may not create connections; name an existing one",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "send either connection_id or connection, not both",
            ));
        }
    };
    let (ticket, expires_at) = state
        .services
        .sign_in
        .connect_ticket(&p.user, &conn, &return_url)
        .await?;
    let event = crate::audit::Event::success("connect_session.create", conn.id.clone())
        .with("user", p.user.id.clone());
    crate::audit::record(&state.store, &actor, state.now(), event).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SessionLink {
            url: start_url(&state, &ticket),
            expires_at: rfc3339(expires_at),
            connection_id: conn.id,
        }),
    ))
}
