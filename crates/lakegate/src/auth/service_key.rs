//! Service keys: an org's credentials for a platform's backend. Admins create them with
//! scopes and an expiry; they are shown once, stored hashed, revocable, and never cached, so
//! a revocation holds at once on every replica. A key acts for one of the org's users named
//! in `Lakegate-User`, with that user's rights bounded by the key's scopes; it never acts as
//! an admin.

use std::sync::Arc;

use crate::accounts::Org;
use crate::audit::{self, Actor, Event};
use crate::auth::{Scope, bearer, scope};
use crate::clock::Clock;
use crate::crypto::random;
use crate::secret::Secret;
use crate::store::{ServiceKeyRow, Store, StoreError};

pub const KEY_PREFIX: &str = "lgk_";

/// The scopes a service key may hold: what a user does with connections, and managing the
/// org's end users by external id and opening their connect sessions; never `admin`.
pub const SCOPES: [Scope; 6] = [
    Scope::ConnectionsRead,
    Scope::ConnectionsWrite,
    Scope::QueriesRun,
    Scope::TokensVend,
    Scope::UsersWrite,
    Scope::ConnectWrite,
];

#[derive(Debug, thiserror::Error)]
pub enum ServiceKeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("service key not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request for a new key.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub scopes: Vec<Scope>,
    pub ttl_days: Option<i64>,
}

#[derive(Clone)]
pub struct ServiceKeyService {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl ServiceKeyService {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        ServiceKeyService { store, clock }
    }

    /// Creates a key for `org`; the returned secret is never stored or shown again.
    pub async fn create(
        &self,
        actor: &Actor,
        org: &Org,
        req: NewKey<'_>,
    ) -> Result<(Secret, ServiceKeyRow), ServiceKeyError> {
        let now = self.clock.now();
        let name = bearer::name("service key", req.name).map_err(ServiceKeyError::Invalid)?;
        if req.scopes.is_empty() {
            return Err(ServiceKeyError::Invalid(
                "at least one scope is required".into(),
            ));
        }
        if let Some(s) = req.scopes.iter().find(|s| !SCOPES.contains(s)) {
            return Err(ServiceKeyError::Invalid(format!(
                "a service key cannot hold the {} scope",
                s.as_str()
            )));
        }
        let lifetime = bearer::lifetime_seconds(req.ttl_days).map_err(ServiceKeyError::Invalid)?;
        let minted = bearer::mint(KEY_PREFIX);
        let row = ServiceKeyRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org.id.clone(),
            name,
            prefix: minted.prefix,
            scopes: scope::join(&req.scopes),
            created_at: now,
            expires_at: now + lifetime,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_service_key(&row, &minted.hash).await?;
        let event = Event::success("service_key.create", row.id.clone())
            .with("name", row.name.clone())
            .with("scopes", row.scopes.clone());
        audit::record(&self.store, actor, now, event).await?;
        Ok((minted.secret, row))
    }

    pub async fn list(&self, org: &Org) -> Result<Vec<ServiceKeyRow>, ServiceKeyError> {
        Ok(self.store.list_service_keys(&org.id).await?)
    }

    pub async fn revoke(&self, actor: &Actor, org: &Org, id: &str) -> Result<(), ServiceKeyError> {
        let now = self.clock.now();
        let row = self
            .store
            .revoke_service_key(&org.id, id, now)
            .await?
            .ok_or(ServiceKeyError::NotFound)?;
        let event = Event::success("service_key.revoke", row.id).with("name", row.name);
        audit::record(&self.store, actor, now, event).await?;
        Ok(())
    }

    /// Resolves a presented key to its live row and org, or `None`.
    pub async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Option<(ServiceKeyRow, Org)>, StoreError> {
        let now = self.clock.now();
        if !presented.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let hash = random::token_hash(presented);
        let Some(row) = self.store.recent_service_key(&hash, now).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || now >= row.expires_at {
            return Ok(None);
        }
        let Some(org) = self.store.recent_org(&row.org_id, now).await? else {
            return Ok(None);
        };
        if bearer::touch_due(row.last_used_at, now) {
            self.store.touch_service_key(&hash, &row.id, now).await?;
        }
        Ok(Some((row, org)))
    }
}

/// The scopes of a stored key.
pub fn scopes_of(row: &ServiceKeyRow) -> Vec<Scope> {
    scope::split(&row.scopes)
}
