//! Creating, reading, changing and deleting connections, and using one's own credential.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::{self, Actor, Event};
use crate::auth::Principal;
use crate::clock::Clock;
use crate::providers::{self, Info, Provider};
use crate::store::{ConnectionRow, IntegrationRow, Store};
use crate::tokens::keeper::TokenKeeper;
use crate::tokens::{Holder, TokenService};
use crate::warehouse::Identity;

use super::{ConnectionError, CredentialStatus, Patch, Purpose, allowed, status_of};

/// A new connection of `p`'s user under `integration` (the org's, at the workspace picked;
/// or a shared identity's own client), with nothing else set.
pub(super) fn new_row(
    p: &Principal,
    id: String,
    name: String,
    info: &Info,
    integration: &IntegrationRow,
    shared: bool,
    now: i64,
) -> ConnectionRow {
    ConnectionRow {
        id,
        org_id: p.org.id.clone(),
        owner_id: p.user.id.clone(),
        name,
        provider: info.id.into(),
        auth: info.auth.into(),
        integration_id: integration.id.clone(),
        host: integration.host.clone(),
        warehouse_id: None,
        catalog: None,
        schema_name: None,
        role: None,
        location: None,
        shared,
        token_vending: false,
        fallback_connection_id: None,
        created_at: now,
        updated_at: now,
    }
}

/// Connections and the caller's credential on them.
#[derive(Clone)]
pub struct ConnectionService {
    store: Store,
    clock: Arc<dyn Clock>,
    tokens: TokenService,
}

pub(super) fn check_name(name: &str) -> Result<String, ConnectionError> {
    // The limit counts what was sent, surrounding spaces included (as the API schema's
    // maxLength does); the stored name is trimmed.
    let n = name.trim();
    if n.is_empty() || name.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ConnectionError::Invalid(
            "the connection name must be 1-100 printable characters".into(),
        ));
    }
    Ok(n.to_owned())
}

impl ConnectionService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, tokens: TokenService) -> Self {
        ConnectionService {
            store,
            clock,
            tokens,
        }
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now()
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The connections the caller may see: their own and those shared with the org.
    pub async fn visible(&self, p: &Principal) -> Result<Vec<ConnectionRow>, ConnectionError> {
        Ok(self
            .store
            .visible_connections(&p.org.id, &p.user.id)
            .await?)
    }

    /// Creates a connection of `provider` owned by the caller, under the org's integration,
    /// on one of its workspaces (`host`; default: its first).
    pub async fn create(
        &self,
        p: &Principal,
        actor: &Actor,
        provider: &dyn Provider,
        name: &str,
        shared: bool,
        host: Option<&str>,
    ) -> Result<ConnectionRow, ConnectionError> {
        let name = check_name(name)?;
        let info = provider.info();
        let mut integration = self
            .store
            .integration(&p.org.id, info.kind)
            .await?
            .ok_or(ConnectionError::NoIntegration)?;
        if let Some(typed) = host.map(str::trim).filter(|h| !h.is_empty()) {
            integration = self.workspace(provider, integration, typed).await?;
        }
        let now = self.now();
        let mut row = new_row(
            p,
            uuid::Uuid::now_v7().to_string(),
            name,
            info,
            &integration,
            shared,
            now,
        );
        // The integration's default compute (BigQuery's default billing project).
        row.warehouse_id = integration.default_compute;
        self.store.create_connection(&row).await?;
        audit::record(
            &self.store,
            actor,
            now,
            Event::success("connection.create", row.id.clone())
                .with("name", row.name.clone())
                .with("shared", shared),
        )
        .await?;
        Ok(row)
    }

    /// The integration at the workspace a user picked: one the admin put on its list, never
    /// a host only the user typed.
    async fn workspace(
        &self,
        provider: &dyn Provider,
        integration: IntegrationRow,
        typed: &str,
    ) -> Result<IntegrationRow, ConnectionError> {
        let policy = self.tokens.egress().policy();
        let name = provider
            .parse_host(typed, policy)
            .map(|h| h.name)
            .unwrap_or_else(|_| typed.to_owned());
        let mut listed = vec![integration.host.clone()];
        listed.extend(
            self.store
                .integration_hosts(&integration.id)
                .await?
                .into_iter()
                .map(|h| h.host),
        );
        self.store
            .integration_at_host(integration, &name)
            .await?
            .ok_or_else(|| {
                ConnectionError::Invalid(format!(
                    "{name} is not one of this organization's {} workspaces ({}): an administrator adds workspaces to the integration",
                    provider.info().vendor,
                    listed.join(", ")
                ))
            })
    }

    /// A connection the caller may use for `purpose`; anything else is "not found".
    pub async fn load(
        &self,
        p: &Principal,
        id: &str,
        purpose: Purpose,
    ) -> Result<ConnectionRow, ConnectionError> {
        // Using a connection reads the memo (the hot path); managing one reads the row.
        let c = match purpose {
            Purpose::Use => {
                self.store
                    .recent_connection(&p.org.id, id, self.now())
                    .await?
            }
            _ => self.store.connection(&p.org.id, id).await?,
        }
        .ok_or(ConnectionError::NotFound)?;
        if allowed(p, &c, purpose) {
            Ok(c)
        } else {
            Err(ConnectionError::NotFound)
        }
    }

    pub async fn update(
        &self,
        p: &Principal,
        actor: &Actor,
        id: &str,
        patch: Patch,
    ) -> Result<ConnectionRow, ConnectionError> {
        let before = self.load(p, id, Purpose::Manage).await?;
        let mut after = before.clone();
        if let Some(n) = &patch.name {
            after.name = check_name(n)?;
        }
        let opt = |v: Option<String>, current: Option<String>| match v {
            None => current,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => Some(s.trim().to_owned()),
        };
        after.warehouse_id = opt(patch.warehouse_id, after.warehouse_id);
        after.catalog = opt(patch.catalog, after.catalog);
        after.schema_name = opt(patch.schema, after.schema_name);
        if patch.role.is_some() || patch.location.is_some() {
            let provider = crate::providers::by_connection(&after.provider, &after.auth)
                .ok_or(ConnectionError::NoIntegration)?;
            if patch.role.is_some() {
                after.role = match opt(patch.role, None) {
                    Some(r) => Some(provider.check_role(&r).map_err(ConnectionError::Invalid)?),
                    None => None,
                };
            }
            if patch.location.is_some() {
                after.location = match opt(patch.location, None) {
                    Some(l) => Some(
                        provider
                            .check_location(&l)
                            .map_err(ConnectionError::Invalid)?,
                    ),
                    None => None,
                };
            }
        }
        if let Some(s) = patch.shared {
            after.shared = s;
        }
        if let Some(on) = patch.token_vending {
            if !providers::shared_identity(&after.provider, &after.auth) {
                return Err(ConnectionError::Invalid(
                    "token vending is always on for connections whose users sign in as themselves"
                        .into(),
                ));
            }
            if p.user.role != crate::accounts::Role::Admin {
                return Err(ConnectionError::Forbidden(
                    "only an administrator turns token vending on or off",
                ));
            }
            after.token_vending = on;
        }
        if let Some(f) = patch.fallback_connection_id {
            after.fallback_connection_id = match f.trim() {
                "" => None,
                id => Some(self.checked_fallback(p, &after, id).await?),
            };
        }
        for v in [&after.warehouse_id, &after.catalog, &after.schema_name]
            .into_iter()
            .flatten()
        {
            if v.chars().count() > 255 || v.chars().any(char::is_control) {
                return Err(ConnectionError::Invalid(
                    "warehouse, catalog and schema must be at most 255 printable characters".into(),
                ));
            }
        }
        after.updated_at = self.now();
        if !self.store.update_connection(&after).await? {
            return Err(ConnectionError::NotFound);
        }
        let action = match (before.shared, after.shared) {
            (false, true) => "connection.share",
            (true, false) => "connection.unshare",
            _ => "connection.update",
        };
        let mut event = Event::success(action, after.id.clone());
        if before.token_vending != after.token_vending {
            event = event.with("token_vending", after.token_vending);
        }
        if before.fallback_connection_id != after.fallback_connection_id {
            event = event.with(
                "fallback_connection_id",
                after.fallback_connection_id.clone().unwrap_or_default(),
            );
        }
        audit::record(&self.store, actor, after.updated_at, event).await?;
        Ok(after)
    }

    /// Deletes a connection and every credential on it.
    pub async fn delete(
        &self,
        p: &Principal,
        actor: &Actor,
        id: &str,
    ) -> Result<(), ConnectionError> {
        let c = self.load(p, id, Purpose::Manage).await?;
        if !self.store.delete_connection(&p.org.id, &c.id).await? {
            return Err(ConnectionError::NotFound);
        }
        audit::record(
            &self.store,
            actor,
            self.now(),
            Event::success("connection.delete", c.id).with("name", c.name),
        )
        .await?;
        Ok(())
    }

    /// Removes the caller's own credential on a connection.
    pub async fn disconnect(
        &self,
        p: &Principal,
        actor: &Actor,
        id: &str,
    ) -> Result<(), ConnectionError> {
        let c = self.load(p, id, Purpose::Use).await?;
        let cred = self
            .store
            .credential(&c.id, &p.user.id)
            .await?
            .ok_or(ConnectionError::NotSignedIn)?;
        // Revoked at the provider first (where it offers that), deleted here regardless.
        let revoked = self.tokens.revoke_at_provider(&cred).await;
        if let Err(why) = &revoked {
            tracing::warn!(connection = %c.id, reason = %why, "could not revoke a grant at the provider");
        }
        if !self.store.delete_credential(&c.id, &p.user.id).await? {
            return Err(ConnectionError::NotSignedIn);
        }
        audit::record(
            &self.store,
            actor,
            self.now(),
            Event::success("connection.disconnect", c.id)
                .with("revoked_at_provider", matches!(revoked, Ok(true))),
        )
        .await?;
        Ok(())
    }

    pub async fn credential_view(
        &self,
        p: &Principal,
        c: &ConnectionRow,
    ) -> Result<CredentialView, ConnectionError> {
        let holder = Holder::caller(p, c);
        let cred = self.store.credential(&c.id, &holder.user_id).await?;
        let info = providers::by_connection(&c.provider, &c.auth)
            .ok_or(ConnectionError::NoIntegration)?
            .info();
        let lifetime = info.dialect.refresh_lifetime;
        let shared_identity = info.renewal.shared_identity();
        // A shared identity's client is its own; other connections use the org's integration.
        let integration = if shared_identity {
            self.store
                .integration_by_id(&p.org.id, &c.integration_id)
                .await?
        } else {
            match self.store.integration(&p.org.id, info.kind).await? {
                // As seen from the connection's workspace, while it is on the list.
                Some(i) => Some(
                    self.store
                        .integration_at_host(i.clone(), &c.host)
                        .await?
                        .unwrap_or(i),
                ),
                None => None,
            }
        };
        let limits = cred
            .as_ref()
            .zip(integration.as_ref())
            .map(|(c, i)| super::deadlines(c, i, lifetime));
        Ok(CredentialView {
            status: status_of(cred.as_ref(), integration.as_ref()),
            databricks_user_name: cred.as_ref().map(|c| c.databricks_user_name.clone()),
            databricks_user_id: cred.as_ref().map(|c| c.databricks_user_id.clone()),
            scopes: cred.as_ref().map(|c| c.scopes.clone()),
            access_expires_at: cred.as_ref().map(|c| c.access_expires_at),
            signed_in_at: cred.as_ref().map(|c| c.session_started_at),
            access_renews_at: limits.map(|d| crate::clock::rfc3339(d.access_renews_at)),
            sign_in_needed_by: limits.map(|d| crate::clock::rfc3339(d.sign_in_needed_by)),
            reconsent_soon: cred.as_ref().is_some_and(|c| c.warned_at.is_some()),
            shared_identity,
        })
    }

    /// Identity, warehouse state and `SELECT 1`, as the caller.
    pub async fn test(&self, p: &Principal, id: &str) -> Result<TestReport, ConnectionError> {
        let c = self.load(p, id, Purpose::Use).await?;
        let keeper = self.keeper(p, &c).await?;
        let mut report = TestReport {
            ok: false,
            identity: None,
            warehouse: c.warehouse_id.clone(),
            warehouse_state: None,
            select_one: None,
            problems: vec![],
        };
        match keeper.me().await {
            Ok(identity) => report.identity = Some(identity),
            Err(e) => report.problems.push(format!("identity: {e}")),
        }
        match &c.warehouse_id {
            None => report
                .problems
                .push("pick a SQL warehouse for this connection".into()),
            Some(w) => {
                match keeper.warehouse(w).await {
                    Ok(wh) => report.warehouse_state = Some(wh.state),
                    Err(e) => report.problems.push(format!("warehouse: {e}")),
                }
                match keeper.select_one(w).await {
                    Ok(()) => report.select_one = Some(true),
                    Err(e) => {
                        report.select_one = Some(false);
                        report.problems.push(format!("SELECT 1: {e}"));
                    }
                }
            }
        }
        report.ok = report.problems.is_empty();
        Ok(report)
    }

    /// The caller's own credential on `c`, ready to call the warehouse.
    pub async fn keeper(
        &self,
        p: &Principal,
        c: &ConnectionRow,
    ) -> Result<TokenKeeper, ConnectionError> {
        TokenKeeper::for_caller(&self.tokens, p, c).await
    }
}

/// The caller's credential on a connection, with its status (never the tokens).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CredentialView {
    #[serde(flatten)]
    pub status: CredentialStatus,
    pub databricks_user_name: Option<String>,
    pub databricks_user_id: Option<String>,
    pub scopes: Option<String>,
    pub access_expires_at: Option<i64>,
    pub signed_in_at: Option<i64>,
    /// When the access token will be renewed.
    pub access_renews_at: Option<String>,
    /// The latest moment the user must sign in again.
    pub sign_in_needed_by: Option<String>,
    /// The absolute session lifetime ends soon: the user has been warned.
    pub reconsent_soon: bool,
    /// Queries run as one identity (`databricks_user_name`) for everyone who uses the
    /// connection (OAuth M2M, personal access token), not as the caller.
    pub shared_identity: bool,
}

/// The result of **Test connection**.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TestReport {
    pub ok: bool,
    pub identity: Option<Identity>,
    pub warehouse: Option<String>,
    pub warehouse_state: Option<String>,
    pub select_one: Option<bool>,
    pub problems: Vec<String>,
}
