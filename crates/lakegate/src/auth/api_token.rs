//! Personal API tokens: created with scopes and an expiry, shown once, stored hashed,
//! revocable, with a last-used time.

use std::sync::Arc;

use crate::accounts::{Org, User};
use crate::audit::{self, Actor, Event};
use crate::auth::Scope;
use crate::auth::{bearer, scope};
use crate::clock::Clock;
use crate::crypto::random;
use crate::secret::Secret;
use crate::store::{ApiTokenRow, NewApiToken, Store, StoreError};

pub const TOKEN_PREFIX: &str = "lgp_";
pub use super::bearer::{DEFAULT_TTL_DAYS, MAX_TTL_DAYS};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("API token not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request for a new token.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub scopes: Vec<Scope>,
    pub ttl_days: Option<i64>,
}

/// Personal API tokens, with the store and clock they are checked with.
#[derive(Clone)]
pub struct ApiTokenService {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl ApiTokenService {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        ApiTokenService { store, clock }
    }

    /// Creates a token for `user`; the returned secret is never stored or shown again.
    pub async fn create(
        &self,
        actor: &Actor,
        user: &User,
        req: NewToken<'_>,
    ) -> Result<(Secret, ApiTokenRow), TokenError> {
        let (store, now) = (&self.store, self.clock.now());
        let name = bearer::name("token", req.name).map_err(TokenError::Invalid)?;
        if req.scopes.is_empty() {
            return Err(TokenError::Invalid("at least one scope is required".into()));
        }
        if let Some(s) = req.scopes.iter().find(|s| user.role < s.min_role()) {
            return Err(TokenError::Invalid(format!(
                "a user with role {} cannot hold the {} scope",
                user.role,
                s.as_str()
            )));
        }
        let lifetime = bearer::lifetime_seconds(req.ttl_days).map_err(TokenError::Invalid)?;
        let minted = bearer::mint(TOKEN_PREFIX);
        let id = uuid::Uuid::now_v7().to_string();
        let row = ApiTokenRow {
            id: id.clone(),
            user_id: user.id.clone(),
            name,
            prefix: minted.prefix,
            scopes: scope::join(&req.scopes),
            created_at: now,
            expires_at: now + lifetime,
            last_used_at: None,
            revoked_at: None,
        };
        store
            .create_api_token(NewApiToken {
                id: &row.id,
                user_id: &row.user_id,
                name: &row.name,
                token_hash: &minted.hash,
                prefix: &row.prefix,
                scopes: &row.scopes,
                now,
                expires_at: row.expires_at,
            })
            .await?;
        audit::record(
            store,
            actor,
            now,
            Event::success("api_token.create", row.id.clone())
                .with("name", row.name.clone())
                .with("scopes", row.scopes.clone()),
        )
        .await?;
        Ok((minted.secret, row))
    }

    /// Resolves a presented bearer token to its live row, user and org, or `None`.
    pub async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Option<(ApiTokenRow, User, Org)>, StoreError> {
        let (store, now) = (&self.store, self.clock.now());
        if !presented.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = random::token_hash(presented);
        let Some(row) = store.recent_api_token(&hash, now).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || now >= row.expires_at {
            return Ok(None);
        }
        let Some((user, org)) = store.recent_user_with_org(&row.user_id, now).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        if bearer::touch_due(row.last_used_at, now) {
            store.touch_api_token(&hash, &row.id, now).await?;
        }
        Ok(Some((row, user, org)))
    }

    pub async fn revoke(&self, actor: &Actor, user: &User, id: &str) -> Result<(), TokenError> {
        let (store, now) = (&self.store, self.clock.now());
        let row = store
            .revoke_api_token(&user.id, id, now)
            .await?
            .ok_or(TokenError::NotFound)?;
        audit::record(
            store,
            actor,
            now,
            Event::success("api_token.revoke", row.id).with("name", row.name),
        )
        .await?;
        Ok(())
    }
}

/// The scopes of a stored token.
pub fn scopes_of(row: &ApiTokenRow) -> Vec<Scope> {
    scope::split(&row.scopes)
}
