//! Calls Databricks as the user, keeping their access token usable for as long as the work
//! needs it (one call, or a statement that runs for an hour).
//!
//! Before submitting a statement, the token must outlive its time limit (plus a margin);
//! between polls and chunk fetches it is renewed when it runs short. When Databricks rejects
//! it (401, or a 403 about the token) Lakegate forces one refresh and repeats that one call:
//! a rejected submission was never accepted, so repeating it cannot run the statement twice.
//! Any other 403 is a permission error and never leads to a refresh.

use tokio::sync::Mutex;

use crate::app::AppState;
use crate::auth::Principal;
use crate::connections::ConnectionError;
use crate::connections::refresh::{Fresh, fresh_token};
use crate::secret::Secret;
use crate::store::ConnectionRow;
use crate::warehouse::databricks::{DatabricksError, Identity, Warehouse, Workspace};
use crate::warehouse::statements::{Chunk, Rows, Statement, Submit, download};

/// Time a token must have left for one more call.
const PER_CALL_SECONDS: i64 = 60;
/// Asking for more than this would refresh on every query; longer statements renew between polls.
const MOST_UP_FRONT_SECONDS: i64 = 30 * 60;

/// Whose token, on which connection.
#[derive(Debug, Clone)]
pub struct Holder {
    pub connection_id: String,
    pub user_id: String,
    pub org_id: String,
}

impl Holder {
    /// The caller's own credential on connection `c` (never another user's).
    pub fn caller(p: &Principal, c: &ConnectionRow) -> Holder {
        Holder {
            connection_id: c.id.clone(),
            user_id: p.user.id.clone(),
            org_id: p.org.id.clone(),
        }
    }
}

/// Runs one Databricks call with a usable token, repeating it once after a forced refresh
/// if Databricks rejects the token. (A macro, not a closure-taking method: the futures of
/// async closures cannot yet be promised `Send` for every lifetime.)
macro_rules! with_token {
    ($keeper:ident, |$ws:ident, $t:ident| $call:expr) => {{
        let (token, expires_at, base) = $keeper.token().await?;
        let $ws = Workspace::new(&$keeper.state.egress, &base);
        let first = {
            let $t = token.expose();
            $call.await
        };
        match first {
            Err(DatabricksError::TokenRejected(_)) => {
                $keeper.state.metrics.token_rejected_retry();
                $keeper.replace(expires_at).await?;
                let (token, _, _) = $keeper.token().await?;
                let $t = token.expose();
                Ok($call.await?)
            }
            other => Ok(other?),
        }
    }};
}

/// Attempts for a call Databricks may turn away while busy (429, 503): the first and three
/// more, waiting about 0.25, 0.5 and 1 s between them.
const BUSY_ATTEMPTS: u32 = 4;

/// Databricks was too busy to take the call, so nothing happened and it may be repeated.
/// `also_unavailable`: 502/503/504 and connection trouble count too — right for reads
/// (polls, chunks), not for a submission whose answer was lost.
fn busy(e: &ConnectionError, also_unavailable: bool) -> bool {
    use crate::egress::EgressError;
    match e {
        ConnectionError::Databricks(DatabricksError::Upstream { status: 429, .. }) => true,
        ConnectionError::Databricks(DatabricksError::Upstream { status, .. }) => {
            also_unavailable && matches!(status, 502..=504)
        }
        ConnectionError::Databricks(DatabricksError::Egress(
            EgressError::Timeout { .. } | EgressError::Connect { .. },
        )) => also_unavailable,
        _ => false,
    }
}

/// Repeats `$call` (an expression producing a future) while Databricks is busy, with
/// jittered exponential backoff; other outcomes return at once.
macro_rules! while_busy {
    ($reads:expr, $call:expr) => {{
        let mut attempt = 1;
        loop {
            match $call.await {
                Err(e) if attempt < BUSY_ATTEMPTS && busy(&e, $reads) => {
                    let base = 250u64 << (attempt - 1);
                    let jitter = rand::Rng::random_range(&mut rand::rng(), 0..base / 2);
                    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

pub struct TokenKeeper {
    state: AppState,
    holder: Holder,
    current: Mutex<Fresh>,
}

/// How long a token must last before a statement with this time limit is submitted.
pub fn up_front_seconds(timeout_seconds: i64) -> i64 {
    (timeout_seconds + PER_CALL_SECONDS).min(MOST_UP_FRONT_SECONDS)
}

impl TokenKeeper {
    /// The caller's own credential on `c` (never another user's).
    pub async fn for_caller(
        state: &AppState,
        p: &Principal,
        c: &ConnectionRow,
    ) -> Result<TokenKeeper, ConnectionError> {
        TokenKeeper::new(state, Holder::caller(p, c), PER_CALL_SECONDS).await
    }

    pub async fn new(
        state: &AppState,
        holder: Holder,
        min_remaining: i64,
    ) -> Result<TokenKeeper, ConnectionError> {
        let fresh = fresh_token(
            state,
            &holder.connection_id,
            &holder.user_id,
            &holder.org_id,
            min_remaining,
        )
        .await?;
        state
            .store
            .touch_credential_use(&fresh.credential.id, state.now())
            .await?;
        Ok(TokenKeeper {
            state: state.clone(),
            holder,
            current: Mutex::new(fresh),
        })
    }

    /// A token with at least a call's worth of time left, its expiry, and the workspace URL.
    async fn token(&self) -> Result<(Secret, i64, String), ConnectionError> {
        let mut cur = self.current.lock().await;
        if cur.expires_at - self.state.now() < PER_CALL_SECONDS {
            *cur = self.fetch(PER_CALL_SECONDS).await?;
        }
        Ok((cur.token.clone(), cur.expires_at, cur.base_url.clone()))
    }

    async fn fetch(&self, min_remaining: i64) -> Result<Fresh, ConnectionError> {
        let h = &self.holder;
        fresh_token(
            &self.state,
            &h.connection_id,
            &h.user_id,
            &h.org_id,
            min_remaining,
        )
        .await
    }

    /// Replaces a token Databricks rejected, unless a peer already did.
    async fn replace(&self, rejected_expires_at: i64) -> Result<(), ConnectionError> {
        let mut cur = self.current.lock().await;
        if cur.expires_at != rejected_expires_at {
            return Ok(());
        }
        // Asking for more time than the rejected token had forces a refresh, while a token
        // a peer stored meanwhile (which expires later) is taken as it is.
        let need = rejected_expires_at - self.state.now() + 1;
        *cur = self.fetch(need.max(PER_CALL_SECONDS)).await?;
        Ok(())
    }

    /// Submits a statement; repeated only when Databricks said 429 (it did not take it).
    pub async fn submit(&self, req: &Submit<'_>) -> Result<Statement, ConnectionError> {
        while_busy!(false, async {
            with_token!(self, |ws, t| ws.submit(t, req))
        })
    }

    pub async fn statement(&self, id: &str) -> Result<Statement, ConnectionError> {
        while_busy!(true, async {
            with_token!(self, |ws, t| ws.statement(t, id))
        })
    }

    pub async fn chunk(&self, id: &str, index: u64) -> Result<Chunk, ConnectionError> {
        while_busy!(true, async {
            with_token!(self, |ws, t| ws.chunk(t, id, index))
        })
    }

    /// The rows of chunk `index`: inline, or downloaded from the chunk's external links.
    /// `known` is the chunk if it is at hand (chunk 0 comes with the statement). A link
    /// that no longer works (links expire after about 15 minutes) is replaced by asking
    /// Databricks for the chunk again, once.
    pub async fn chunk_rows(
        &self,
        id: &str,
        index: u64,
        known: Option<Chunk>,
    ) -> Result<Rows, ConnectionError> {
        let chunk = match known {
            Some(c) => c,
            None => self.chunk(id, index).await?,
        };
        if chunk.external_links.is_empty() {
            return Ok(chunk.data_array);
        }
        match self.download_all(&chunk).await {
            Err(ConnectionError::Databricks(DatabricksError::Storage(_))) => {
                let again = self.chunk(id, index).await?;
                self.download_all(&again).await
            }
            other => other,
        }
    }

    async fn download_all(&self, chunk: &Chunk) -> Result<Rows, ConnectionError> {
        let mut rows = Rows::new();
        for link in &chunk.external_links {
            rows.extend(download(&self.state.egress, link).await?);
        }
        Ok(rows)
    }

    pub async fn cancel(&self, id: &str) -> Result<(), ConnectionError> {
        with_token!(self, |ws, t| ws.cancel(t, id))
    }

    pub async fn me(&self) -> Result<Identity, ConnectionError> {
        with_token!(self, |ws, t| ws.me(t))
    }

    pub async fn warehouses(&self) -> Result<Vec<Warehouse>, ConnectionError> {
        with_token!(self, |ws, t| ws.warehouses(t))
    }

    pub async fn warehouse(&self, id: &str) -> Result<Warehouse, ConnectionError> {
        with_token!(self, |ws, t| ws.warehouse(t, id))
    }

    pub async fn catalogs(&self) -> Result<Vec<String>, ConnectionError> {
        with_token!(self, |ws, t| ws.catalogs(t))
    }

    pub async fn schemas(&self, catalog: &str) -> Result<Vec<String>, ConnectionError> {
        with_token!(self, |ws, t| ws.schemas(t, catalog))
    }

    pub async fn tables(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<serde_json::Value>, ConnectionError> {
        with_token!(self, |ws, t| ws.tables(t, catalog, schema))
    }

    pub async fn select_one(&self, warehouse_id: &str) -> Result<(), ConnectionError> {
        with_token!(self, |ws, t| ws.select_one(t, warehouse_id))
    }
}
