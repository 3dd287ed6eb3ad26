//! The home page: everyone's connections with their status and the next step (sign in
//! again, with why and a button; pick a warehouse), and — for admins — the setup checklist:
//! integrations configured and verified, users, connections signed in.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::connections::{csrf_of, page_error};
use super::{Nav, render};
use crate::accounts::Role;
use crate::auth::{Access, Principal, Scope};
use crate::connections::{ConnectionError, CredentialStatus};
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers;
use crate::store::{CredentialState, IntegrationStatus};

pub fn register(reg: &mut Registry) {
    reg.add(M::Get, "/", Kind::Page, Access::User(None), "Home", home);
}

/// One of the user's connections, and what to do next on it.
struct Row {
    id: String,
    name: String,
    kind: String,
    /// `active`, `signin` (never, or again) or `setup` (needs a warehouse).
    state: &'static str,
    status: String,
    /// Users of shared identities do not sign in.
    can_sign_in: bool,
}

/// One step of the admin's setup checklist.
struct Step {
    done: bool,
    text: String,
    href: String,
    link: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    nav: Option<Nav>,
    csrf: String,
    display_name: String,
    org_name: String,
    role: &'static str,
    connections: Vec<Row>,
    can_create: bool,
    checklist: Vec<Step>,
}

async fn home(State(state): State<AppState>, Auth(p): Auth) -> Response {
    let connections = match rows(&state, &p).await {
        Ok(r) => r,
        Err(e) => return page_error(e),
    };
    let checklist = if p.user.role == Role::Admin {
        match checklist(&state, &p).await {
            Ok(c) => c,
            Err(e) => return page_error(e),
        }
    } else {
        vec![]
    };
    let nav = Nav::of(&p);
    render(
        StatusCode::OK,
        &Home {
            csrf: csrf_of(&nav),
            nav,
            display_name: p.user.display_name.clone(),
            org_name: p.org.name.clone(),
            role: p.user.role.as_str(),
            connections,
            can_create: p.may(Scope::ConnectionsWrite),
            checklist,
        },
    )
}

async fn rows(state: &AppState, p: &Principal) -> Result<Vec<Row>, ConnectionError> {
    let service = &state.services.connections;
    let mut out = vec![];
    for c in service.visible(p).await? {
        let view = service.credential_view(p, &c).await?;
        let (state, status) = match &view.status {
            CredentialStatus::Active if c.warehouse_id.is_none() => {
                ("setup", "active — pick a warehouse".to_owned())
            }
            CredentialStatus::Active => ("active", "active".to_owned()),
            CredentialStatus::ReauthRequired { reason } => {
                ("signin", format!("sign in again: {reason}"))
            }
            CredentialStatus::NotSignedIn | CredentialStatus::Revoked => {
                ("signin", "not signed in".to_owned())
            }
        };
        let kind = providers::by_connection(&c.provider, &c.auth)
            .map_or_else(|| c.provider.clone(), |p| p.info().product.to_owned());
        out.push(Row {
            can_sign_in: !view.shared_identity,
            id: c.id,
            name: c.name,
            kind,
            state,
            status,
        });
    }
    Ok(out)
}

async fn checklist(state: &AppState, p: &Principal) -> Result<Vec<Step>, ConnectionError> {
    let mut steps = vec![];
    for provider in providers::ALL {
        let info = provider.info();
        let row = state
            .services
            .integrations
            .get(*provider, &p.org.id)
            .await?;
        let (done, text) = match &row {
            None => (false, format!("{}: not configured", info.title)),
            Some(r) if r.status == IntegrationStatus::ClientRejected => (
                false,
                format!(
                    "{}: {} rejects its client secret — update it",
                    info.title, info.vendor
                ),
            ),
            Some(r) => match &r.setup_warning {
                Some(w) => (
                    false,
                    format!("{}: configured, not verified — {w}", info.title),
                ),
                None => (true, format!("{}: configured and verified", info.title)),
            },
        };
        steps.push(Step {
            done,
            text,
            href: format!("/settings/advanced/integrations/{}", info.kind),
            link: if row.is_some() { "Edit" } else { "Configure" },
        });
    }
    let users = state.store.list_users(&p.org.id).await?.len();
    steps.push(Step {
        done: users > 1,
        text: format!(
            "{users} user{} in the organization",
            if users == 1 { "" } else { "s" }
        ),
        href: "/settings/users".into(),
        link: "Users",
    });
    let active: i64 = state
        .store
        .org_credential_status_counts(&p.org.id)
        .await?
        .iter()
        .filter(|c| c.status == CredentialState::Active)
        .map(|c| c.count)
        .sum();
    steps.push(Step {
        done: active > 0,
        text: format!(
            "{active} connection sign-in{} active",
            if active == 1 { "" } else { "s" }
        ),
        href: "/connections".into(),
        link: "Connections",
    });
    Ok(steps)
}
