//! Settings › Users (admin); Activity is in `activity.rs`, API tokens and service keys in
//! `secrets.rs`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Nav, PageForm, error_page, render};
use crate::accounts::Role;
use crate::accounts::service::{NewUserInput, UserPatch};
use crate::auth::{Access, Principal};
use crate::http::api::UserView;
use crate::http::error::{ApiError, ApiQuery};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/settings/users",
        Kind::Page,
        Access::Admin,
        "Users",
        users_page,
    );
    reg.add(
        M::Post,
        "/settings/users",
        Kind::Page,
        Access::Admin,
        "Add a user",
        users_create,
    );
    reg.add(
        M::Post,
        "/settings/users/{id}",
        Kind::Page,
        Access::Admin,
        "Change a user",
        users_update,
    );
}

/// New user: fields arrive as text; the page re-validates everything the API would.
#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// A change to a user: `action` is set-role, disable or enable.
#[derive(Deserialize)]
struct UserActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    role: String,
}

/// New API token: one `scope` field per ticked box.
// ----- Users -----

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    org_name: String,
    csrf: String,
    users: Vec<UserView>,
    message: Option<&'static str>,
    error: Option<String>,
}

impl UsersPage {
    /// The role choices with `current` selected.
    fn role_options(&self, current: impl std::borrow::Borrow<Role>) -> Vec<(&'static str, bool)> {
        Role::ALL
            .iter()
            .map(|r| (r.as_str(), r == current.borrow()))
            .collect()
    }
}

#[derive(Deserialize)]
struct Flash {
    ok: Option<String>,
}

/// Fixed messages chosen by code: nothing from the URL is echoed.
fn flash_message(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "created" => Some("User added."),
        "updated" => Some("User updated."),
        "revoked" => Some("Token revoked."),
        _ => None,
    }
}

async fn users_view(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    message: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let users = match state.store.list_users(&p.org.id).await {
        Ok(u) => u,
        Err(e) => return error_page(e.into()),
    };
    let nav = Nav::of(p);
    let csrf = nav.as_ref().map(|n| n.csrf.clone()).unwrap_or_default();
    render(
        status,
        &UsersPage {
            nav,
            org_name: p.org.name.clone(),
            csrf,
            users: users.iter().map(UserView::from).collect(),
            message,
            error,
        },
    )
}

async fn users_page(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiQuery(f): ApiQuery<Flash>,
) -> Response {
    users_view(
        &state,
        &p,
        StatusCode::OK,
        flash_message(f.ok.as_deref()),
        None,
    )
    .await
}

async fn users_create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    PageForm(form): PageForm<NewUserForm>,
) -> Response {
    let Some(role) = Role::parse(&form.role) else {
        return users_view(
            &state,
            &p,
            StatusCode::BAD_REQUEST,
            None,
            Some("Choose a role: admin, editor or viewer.".into()),
        )
        .await;
    };
    let input = NewUserInput {
        email: form.email,
        display_name: Some(form.display_name),
        role,
        password: Some(Secret::new(form.password)),
        external_id: None,
    };
    match state
        .services
        .accounts
        .create_user(&actor, &p.org, input)
        .await
    {
        Ok(_) => Redirect::to("/settings/users?ok=created").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            users_view(&state, &p, e.status, None, Some(e.message)).await
        }
    }
}

async fn users_update(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    PageForm(form): PageForm<UserActionForm>,
) -> Response {
    let patch = match form.action.as_str() {
        "set-role" => match Role::parse(&form.role) {
            Some(role) => UserPatch {
                role: Some(role),
                ..Default::default()
            },
            None => {
                return users_view(
                    &state,
                    &p,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some("Choose a valid role.".into()),
                )
                .await;
            }
        },
        "disable" => UserPatch {
            disabled: Some(true),
            ..Default::default()
        },
        "enable" => UserPatch {
            disabled: Some(false),
            ..Default::default()
        },
        _ => {
            return users_view(
                &state,
                &p,
                StatusCode::BAD_REQUEST,
                None,
                Some("Unknown action.".into()),
            )
            .await;
        }
    };
    match state
        .services
        .accounts
        .update_user(&actor, &p.org.id, &id, patch)
        .await
    {
        Ok(_) => Redirect::to("/settings/users?ok=updated").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return error_page(e);
            }
            users_view(&state, &p, e.status, None, Some(e.message)).await
        }
    }
}
