//! An explicit fallback for offline work: a U2M connection may name a service principal's
//! connection (M2M) of the same workspace. A request that says `allow_fallback` runs as that
//! principal when the caller's own credential needs a new sign-in, or was never made — and
//! says so (`ran_as`), and the audit log records it. Without the flag nothing falls back.

use serde::Serialize;

use super::service::ConnectionService;
use super::{ConnectionError, Purpose};
use crate::audit::{self, Actor, Event};
use crate::auth::Principal;
use crate::providers::{self, Renewal};
use crate::store::ConnectionRow;
use crate::tokens::Holder;

/// Whose identity ran a query or was vended.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct RanAs {
    /// The warehouse's name for the identity (a user name, or a service principal's
    /// application id).
    pub identity: String,
    /// The connection whose credential it was.
    pub connection_id: String,
    /// True when the caller's own credential could not be used and the connection's
    /// fallback ran it instead.
    pub fallback: bool,
}

/// Whether an error of the caller's own credential is one a fallback may stand in for:
/// a sign-in is needed (never for a busy warehouse, a denied permission or a bad request).
pub fn needs_sign_in(e: &ConnectionError) -> bool {
    matches!(
        e,
        ConnectionError::NotSignedIn | ConnectionError::ReauthRequired(_)
    )
}

/// Checks that `fallback` may stand in for `c`: a service principal of the same workspace.
pub fn check_pair(c: &ConnectionRow, fallback: &ConnectionRow) -> Result<(), ConnectionError> {
    let m2m = providers::by_connection(&fallback.provider, &fallback.auth)
        .is_some_and(|p| p.info().renewal == Renewal::ClientCredentials);
    if providers::shared_identity(&c.provider, &c.auth) {
        return Err(ConnectionError::Invalid(
            "only a connection whose users sign in as themselves can have a fallback".into(),
        ));
    }
    if !m2m || fallback.provider != c.provider {
        return Err(ConnectionError::Invalid(
            "the fallback must be an OAuth M2M (service principal) connection".into(),
        ));
    }
    if fallback.host != c.host {
        return Err(ConnectionError::Invalid(format!(
            "the fallback must be on the same workspace ({}), not {}",
            c.host, fallback.host
        )));
    }
    Ok(())
}

/// What a request ran on: `value` (a keeper, a token) from `holder`'s credential on
/// `connection`, which is the fallback when `fallback`.
pub struct Chosen<T> {
    pub value: T,
    pub connection: ConnectionRow,
    pub holder: Holder,
    pub fallback: bool,
}

impl ConnectionService {
    /// Runs `attempt` with the caller's credential on `c`; when it needs a sign-in and the
    /// request allows a fallback, once more with `c`'s fallback identity (audited).
    pub async fn with_fallback<T, F, Fut>(
        &self,
        p: &Principal,
        actor: &Actor,
        c: &ConnectionRow,
        allow_fallback: bool,
        attempt: F,
    ) -> Result<Chosen<T>, ConnectionError>
    where
        F: Fn(Holder) -> Fut,
        Fut: Future<Output = Result<T, ConnectionError>>,
    {
        let own = Holder::caller(p, c);
        match attempt(own.clone()).await {
            Ok(value) => Ok(Chosen {
                value,
                connection: c.clone(),
                holder: own,
                fallback: false,
            }),
            Err(e) if allow_fallback && needs_sign_in(&e) => {
                let connection = self.fall_back(p, actor, c, e).await?;
                let holder = Holder::caller(p, &connection);
                Ok(Chosen {
                    value: attempt(holder.clone()).await?,
                    connection,
                    holder,
                    fallback: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The fallback connection to run as, after the caller's own credential on `c` failed
    /// with `own`: recorded in the audit log. `Err(own)` when `c` names no usable fallback.
    pub async fn fall_back(
        &self,
        p: &Principal,
        actor: &Actor,
        c: &ConnectionRow,
        own: ConnectionError,
    ) -> Result<ConnectionRow, ConnectionError> {
        let Some(id) = &c.fallback_connection_id else {
            return Err(own);
        };
        let Some(fallback) = self.store().connection(&p.org.id, id).await? else {
            return Err(own);
        };
        if check_pair(c, &fallback).is_err() {
            return Err(own);
        }
        let event = Event::success("connection.fallback", c.id.clone())
            .with("fallback_connection_id", fallback.id.clone())
            .with("user_id", p.user.id.clone())
            .with("reason", own.to_string());
        audit::record(self.store(), actor, self.now(), event).await?;
        Ok(fallback)
    }

    /// Checks a fallback named for `c` by someone who manages it: the fallback must be one
    /// they may use themselves.
    pub(super) async fn checked_fallback(
        &self,
        p: &Principal,
        c: &ConnectionRow,
        id: &str,
    ) -> Result<String, ConnectionError> {
        let fallback = self.load(p, id, Purpose::Use).await.map_err(|_| {
            ConnectionError::Invalid(format!("no connection {id} that you may use"))
        })?;
        check_pair(c, &fallback)?;
        Ok(fallback.id)
    }
}
