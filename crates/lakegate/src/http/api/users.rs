use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::accounts::service::{ExternalUser, NewUserInput, UserPatch};
use crate::accounts::{Role, User};
use crate::auth::{Access, Scope};
use crate::clock::rfc3339;
use crate::field_rules as rules;
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth, PlatformAuth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::secret::Secret;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/users",
        Kind::Api,
        Access::Admin,
        "List the org's users",
        list,
    );
    reg.answers::<Vec<UserView>>(200);
    reg.add(
        M::Post,
        "/api/v1/users",
        Kind::Api,
        Access::Admin,
        "Create a user",
        create,
    );
    reg.answers::<UserView>(201);
    reg.body::<CreateUser>();
    reg.add(
        M::Patch,
        "/api/v1/users/{id}",
        Kind::Api,
        Access::Admin,
        "Change a user's role, name or disabled flag",
        update,
    );
    reg.answers::<UserView>(200);
    reg.body::<PatchUser>();
    let platform = Access::Platform(Scope::UsersWrite);
    let path = "/api/v1/users/by-external-id/{external_id}";
    reg.add(
        M::Put,
        path,
        Kind::Api,
        platform,
        "Create or update the end user a platform knows by this id (no password)",
        put_external,
    );
    reg.body::<ExternalBody>();
    reg.answers::<UserView>(200);
    reg.answers::<UserView>(201);
    reg.add(
        M::Get,
        path,
        Kind::Api,
        platform,
        "The end user a platform knows by this id",
        get_external,
    );
    reg.answers::<UserView>(200);
    reg.add(
        M::Delete,
        path,
        Kind::Api,
        platform,
        "Delete the end user a platform knows by this id, and their credentials",
        delete_external,
    );
    reg.answers_empty(204);
    reg.add(
        M::Delete,
        "/api/v1/users/{id}",
        Kind::Api,
        Access::Admin,
        "Delete a user",
        delete,
    );
    reg.answers_empty(204);
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
    /// The id a platform knows this user by, if it manages them.
    pub external_id: Option<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            external_id: u.external_id.clone(),
        }
    }
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<UserView>>> {
    let users = state.store.list_users(&p.org.id).await?;
    Ok(ApiJson(users.iter().map(UserView::from).collect()))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    #[schemars(length(max = 254), regex(pattern = rules::EMAIL))]
    email: String,
    /// Empty or absent: the email address.
    #[serde(default)]
    #[schemars(length(max = 100), regex(pattern = rules::EMPTY_OR_PRINTABLE))]
    display_name: Option<String>,
    role: Role,
    #[schemars(length(min = 8, max = 1024))]
    password: String,
}

async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let input = NewUserInput {
        email: body.email,
        display_name: body.display_name,
        role: body.role,
        password: Some(Secret::new(body.password)),
        external_id: None,
    };
    let user = state
        .services
        .accounts
        .create_user(&actor, &p.org, input)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&user))))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
struct PatchUser {
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "Role")]
    role: Option<Role>,
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 100), regex(pattern = rules::PRINTABLE))]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "bool")]
    disabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchUser>,
) -> ApiResult<ApiJson<UserView>> {
    if body.role.is_none() && body.display_name.is_none() && body.disabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: send role, display_name or disabled",
        ));
    }
    let patch = UserPatch {
        role: body.role,
        display_name: body.display_name,
        disabled: body.disabled,
    };
    let user = state
        .services
        .accounts
        .update_user(&actor, &p.org.id, &id, patch)
        .await?;
    Ok(ApiJson(UserView::from(&user)))
}

async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Audit(actor): Audit,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .accounts
        .delete_user(&actor, &p.org.id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExternalBody {
    /// Required to create a user; an existing user's email does not change (a different
    /// one is 409).
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 254), regex(pattern = rules::EMAIL))]
    email: Option<String>,
    /// Empty or absent: the email's local part.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 100), regex(pattern = rules::EMPTY_OR_PRINTABLE))]
    display_name: Option<String>,
    /// Default for a new user: editor.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "Role")]
    role: Option<Role>,
}

async fn put_external(
    State(state): State<AppState>,
    PlatformAuth(k): PlatformAuth,
    Audit(actor): Audit,
    Path(external_id): Path<String>,
    ApiJson(body): ApiJson<ExternalBody>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let input = ExternalUser {
        email: body.email,
        display_name: body.display_name,
        role: body.role,
    };
    let (user, created) = state
        .services
        .accounts
        .upsert_external(&actor, &k.org, &external_id, input)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(UserView::from(&user))))
}

async fn get_external(
    State(state): State<AppState>,
    PlatformAuth(k): PlatformAuth,
    Path(external_id): Path<String>,
) -> ApiResult<ApiJson<UserView>> {
    let user = state
        .services
        .accounts
        .external_user(&k.org, &external_id)
        .await?;
    Ok(ApiJson(UserView::from(&user)))
}

async fn delete_external(
    State(state): State<AppState>,
    PlatformAuth(k): PlatformAuth,
    Audit(actor): Audit,
    Path(external_id): Path<String>,
) -> ApiResult<StatusCode> {
    let accounts = &state.services.accounts;
    let user = accounts.external_user(&k.org, &external_id).await?;
    accounts.delete_user(&actor, &k.org.id, &user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
