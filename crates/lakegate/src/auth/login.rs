//! Password login: throttled, with one answer for every kind of failure, and a fresh
//! session on success (never a reused pre-login id).

use std::sync::Arc;

use crate::accounts::{Email, User};
use crate::audit::{self, Actor, Event};
use crate::auth::limits::{LoginLimiter, RetryAfter};
use crate::auth::session::{self, Lifetimes};
use crate::clock::Clock;
use crate::crypto::password;
use crate::secret::Secret;
use crate::store::{Store, StoreError};

/// Password sign-in, with its throttle and the session lifetimes it issues.
#[derive(Clone)]
pub struct LoginService {
    store: Store,
    clock: Arc<dyn Clock>,
    limiter: Arc<LoginLimiter>,
    sessions: Lifetimes,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown org, unknown email, wrong password and disabled user all look alike.
    #[error("the organization, email or password is not right")]
    BadCredentials,
    /// The org signs its people in through its identity provider only.
    #[error("this organization signs in with single sign-on: use \"Sign in with single sign-on\"")]
    PasswordDisabled,
    #[error("too many sign-in attempts; try again in {} seconds", .0.0)]
    Throttled(RetryAfter),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

pub struct LoginInput {
    pub org: String,
    pub email: String,
    pub password: Secret,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl LoginService {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        limiter: Arc<LoginLimiter>,
        sessions: Lifetimes,
    ) -> Self {
        LoginService {
            store,
            clock,
            limiter,
            sessions,
        }
    }

    /// Checks the credentials; on success stores a new session and returns its cookie value.
    pub async fn login(&self, input: LoginInput) -> Result<(Secret, User), LoginError> {
        let now = self.clock.now();
        let org_slug = input.org.trim().to_lowercase();
        let email = Email::parse(&input.email)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
        let account = format!("{org_slug}/{email}");
        let ip = input.client_ip.clone().unwrap_or_else(|| "unknown".into());
        self.limiter
            .check(&ip, &account, now)
            .await?
            .map_err(LoginError::Throttled)?;

        let org = self.store.org_by_slug(&org_slug).await?;
        if let Some(org) = &org
            && let Some(sso) = self.store.sso(&org.id).await?
            && sso.password_sign_in == 0
        {
            return Err(LoginError::PasswordDisabled);
        }
        let found = match &org {
            Some(org) => self.store.user_for_login(&org.id, &email).await?,
            None => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        // Always spend one verification, so timing does not reveal which part was wrong.
        let ok = password::verify(input.password, hash).await?
            && user.as_ref().is_some_and(|u| !u.disabled);
        let actor = |org_id: Option<String>, label: String| Actor {
            org_id,
            label,
            client_ip: input.client_ip.clone(),
            request_id: input.request_id.clone(),
        };
        match (ok, user) {
            (true, Some(user)) => {
                self.limiter.succeeded(&account).await?;
                let (cookie, row) = session::new_session(&user.id, now, self.sessions);
                self.store.create_session(&row).await?;
                let who = actor(Some(user.org_id.clone()), format!("user:{}", user.id));
                audit::record(
                    &self.store,
                    &who,
                    now,
                    Event::success("auth.login", user.id.clone()),
                )
                .await?;
                Ok((cookie, user))
            }
            _ => {
                self.limiter.failed(&account, now).await?;
                if let Some(org) = org {
                    let who = actor(Some(org.id), "anonymous".into());
                    audit::record(
                        &self.store,
                        &who,
                        now,
                        Event::failure("auth.login", None).with("email", email),
                    )
                    .await?;
                }
                Err(LoginError::BadCredentials)
            }
        }
    }

    /// Ends a session.
    pub async fn logout(&self, id_hash: &str) -> Result<(), StoreError> {
        self.store.delete_session(id_hash).await
    }
}
