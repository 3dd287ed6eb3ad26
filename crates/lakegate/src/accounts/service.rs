//! Changes to organizations and users, each validated, stored and audited once.

use std::sync::Arc;

use crate::accounts::{Email, Org, Role, Slug, User, validate_display_name, validate_org_name};
use crate::audit::{self, Actor, Event};
use crate::clock::Clock;
use crate::connections::return_url::normalize_origins;
use crate::crypto::password::{self, MIN_PASSWORD_LEN, PasswordError};
use crate::secret::Secret;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("an organization must keep at least one active admin; promote another user first")]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e)
    }
}

/// `None` from the store is "not found" to the caller.
fn found<T>(what: &'static str, v: Option<T>) -> Result<T, AccountError> {
    v.ok_or(AccountError::NotFound(what))
}

/// Organizations and users, with the store and clock they are changed with.
#[derive(Clone)]
pub struct AccountService {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl AccountService {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        AccountService { store, clock }
    }

    pub async fn create_org(
        &self,
        actor: &Actor,
        slug: &str,
        name: &str,
    ) -> Result<Org, AccountError> {
        let (store, now) = (&self.store, self.clock.now());
        let slug = Slug::parse(slug).map_err(AccountError::Invalid)?;
        let name = validate_org_name(name).map_err(AccountError::Invalid)?;
        let id = uuid::Uuid::now_v7().to_string();
        let org = store
            .create_org(&id, slug.as_str(), &name, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::Conflict(format!(
                    "an organization with slug {slug} already exists"
                )),
                other => AccountError::Store(other),
            })?;
        let actor = Actor {
            org_id: Some(org.id.clone()),
            ..actor.clone()
        };
        audit::record(
            store,
            &actor,
            now,
            Event::success("org.create", org.id.clone()).with("slug", slug.as_str()),
        )
        .await?;
        Ok(org)
    }

    pub async fn org_by_slug(&self, slug: &str) -> Result<Org, AccountError> {
        let store = &self.store;
        found("organization", store.org_by_slug(slug).await?)
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        org: &Org,
        input: NewUserInput,
    ) -> Result<User, AccountError> {
        let (store, now) = (&self.store, self.clock.now());
        let email = Email::parse(&input.email).map_err(AccountError::Invalid)?;
        let display_name = match input.display_name.as_deref().filter(|s| !s.is_empty()) {
            Some(n) => validate_display_name(n).map_err(AccountError::Invalid)?,
            None => email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let hash = match input.password {
            Some(p) => {
                check_password(&p)?;
                Some(password::hash(p).await?)
            }
            None => None,
        };
        let id = uuid::Uuid::now_v7().to_string();
        let user = store
            .create_user(crate::store::NewUser {
                id: &id,
                org_id: &org.id,
                email: email.as_str(),
                display_name: &display_name,
                role: input.role,
                password_hash: hash.as_deref(),
                now,
                external_id: input.external_id.as_deref(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::Conflict(format!(
                    "a user with email {email} (or this external id) already exists in this organization"
                )),
                other => AccountError::Store(other),
            })?;
        audit::record(
            store,
            actor,
            now,
            Event::success("user.create", user.id.clone())
                .with("email", user.email.clone())
                .with("role", user.role.as_str()),
        )
        .await?;
        Ok(user)
    }

    pub async fn update_user(
        &self,
        actor: &Actor,
        org_id: &str,
        user_id: &str,
        patch: UserPatch,
    ) -> Result<User, AccountError> {
        let (store, now) = (&self.store, self.clock.now());
        let before = found("user", store.user_in_org(org_id, user_id).await?)?;
        let mut after = before.clone();
        if let Some(role) = patch.role {
            after.role = role;
        }
        if let Some(name) = patch.display_name.as_deref() {
            after.display_name = validate_display_name(name).map_err(AccountError::Invalid)?;
        }
        if let Some(disabled) = patch.disabled {
            after.disabled = disabled;
        }
        let loses_admin = before.role == Role::Admin
            && !before.disabled
            && (after.role != Role::Admin || after.disabled);
        if loses_admin && store.count_admins(org_id).await? <= 1 {
            return Err(AccountError::LastAdmin);
        }
        if !store.update_user(&after, now).await? {
            return Err(AccountError::NotFound("user"));
        }
        let mut event = Event::success("user.update", after.id.clone());
        if before.role != after.role {
            event = event.with("role", after.role.as_str());
        }
        if before.disabled != after.disabled {
            event = event.with("disabled", after.disabled);
        }
        if before.display_name != after.display_name {
            event = event.with("display_name_changed", true);
        }
        audit::record(store, actor, now, event).await?;
        Ok(after)
    }

    /// Replaces the origins connect sessions may return to (each checked and made
    /// canonical; an empty list allows none). Returns the stored list.
    pub async fn set_return_origins(
        &self,
        actor: &Actor,
        org: &Org,
        origins: &[String],
    ) -> Result<Vec<String>, AccountError> {
        let origins = normalize_origins(origins).map_err(AccountError::Invalid)?;
        let (store, now) = (&self.store, self.clock.now());
        if !store.set_return_origins(&org.id, &origins).await? {
            return Err(AccountError::NotFound("organization"));
        }
        let event = Event::success("org.update", org.id.clone())
            .with("allowed_return_origins", origins.join(" "));
        audit::record(store, actor, now, event).await?;
        Ok(origins)
    }

    /// The user a platform knows as `external_id`.
    pub async fn external_user(&self, org: &Org, external_id: &str) -> Result<User, AccountError> {
        check_external_id(external_id)?;
        found(
            "user",
            self.store.user_by_external_id(&org.id, external_id).await?,
        )
    }

    /// Creates (role editor unless given) or updates (display name, role; the email must stay
    /// the same) the user a platform knows as `external_id`. Such users have no password.
    /// True when created.
    pub async fn upsert_external(
        &self,
        actor: &Actor,
        org: &Org,
        external_id: &str,
        input: ExternalUser,
    ) -> Result<(User, bool), AccountError> {
        check_external_id(external_id)?;
        let Some(user) = self.store.user_by_external_id(&org.id, external_id).await? else {
            let email = input.email.ok_or_else(|| {
                AccountError::Invalid("an email is required to create an end user".into())
            })?;
            let new = NewUserInput {
                email,
                display_name: input.display_name,
                role: input.role.unwrap_or(Role::Editor),
                password: None,
                external_id: Some(external_id.to_owned()),
            };
            return Ok((self.create_user(actor, org, new).await?, true));
        };
        if let Some(email) = &input.email {
            let email = Email::parse(email).map_err(AccountError::Invalid)?;
            if email.as_str() != user.email {
                return Err(AccountError::Conflict(
                    "the email of an existing user does not change".into(),
                ));
            }
        }
        let patch = UserPatch {
            role: input.role,
            display_name: input.display_name,
            disabled: None,
        };
        Ok((
            self.update_user(actor, &org.id, &user.id, patch).await?,
            false,
        ))
    }

    pub async fn delete_user(
        &self,
        actor: &Actor,
        org_id: &str,
        user_id: &str,
    ) -> Result<(), AccountError> {
        let (store, now) = (&self.store, self.clock.now());
        let user = found("user", store.user_in_org(org_id, user_id).await?)?;
        if user.role == Role::Admin && !user.disabled && store.count_admins(org_id).await? <= 1 {
            return Err(AccountError::LastAdmin);
        }
        if !store.delete_user(org_id, user_id).await? {
            return Err(AccountError::NotFound("user"));
        }
        audit::record(
            store,
            actor,
            now,
            Event::success("user.delete", user.id).with("email", user.email),
        )
        .await?;
        Ok(())
    }
}

/// What an admin supplies for a new user.
pub struct NewUserInput {
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub password: Option<Secret>,
    /// The id a platform knows the user by (see `upsert_external`).
    pub external_id: Option<String>,
}

/// What a platform says of one of its end users (`PUT …/users/by-external-id/{id}`).
pub struct ExternalUser {
    /// Required to create; when given for an existing user, it must be theirs.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<Role>,
}

/// An external id: what platforms use for their users (UUIDs, numbers, emails), 1–200
/// characters of letters, digits and `. _ ~ @ + -` (no `:`, which `Lakegate-User` reserves
/// for `user:<id>`).
pub fn check_external_id(id: &str) -> Result<(), AccountError> {
    let ok = (1..=200).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '@' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Invalid(
            "an external id is 1-200 letters, digits and . _ ~ @ + -".into(),
        ))
    }
}

pub fn check_password(p: &Secret) -> Result<(), AccountError> {
    let n = p.expose().chars().count();
    if !(MIN_PASSWORD_LEN..=1024).contains(&n) {
        return Err(AccountError::Invalid(format!(
            "the password must be {MIN_PASSWORD_LEN} to 1024 characters long"
        )));
    }
    Ok(())
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    pub disabled: Option<bool>,
}
