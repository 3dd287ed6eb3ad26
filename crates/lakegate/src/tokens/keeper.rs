//! Calls the warehouse as the user, keeping their access token usable for as long as the work
//! needs it (one call, or a statement that runs for an hour).
//!
//! Before submitting a statement, the token must outlive its time limit (plus a margin);
//! between polls and chunk fetches it is renewed when it runs short. When the warehouse rejects
//! it (401, or a 403 about the token) Lakegate forces one refresh and repeats that one call:
//! a rejected submission was never accepted, so repeating it cannot run the statement twice.
//! Any other 403 is a permission error and never leads to a refresh.

use tokio::sync::Mutex;

use super::{Fresh, Holder, TokenService};
use crate::auth::Principal;
use crate::credentials::ConnectionError;
use crate::secret::Secret;
use crate::store::ConnectionRow;
use crate::warehouse::links::{download, fetch};
use crate::warehouse::{Chunk, Compute, Identity, Rows, Statement, Submit, WarehouseError};
use axum::body::Bytes;

/// Time a token must have left for one more call.
pub const PER_CALL_SECONDS: i64 = 60;
/// Asking for more than this would refresh on every query; longer statements renew between polls.
const MOST_UP_FRONT_SECONDS: i64 = 30 * 60;

/// Runs one warehouse call with a usable token, repeating it once after a forced refresh
/// if the warehouse rejects the token. (A macro, not a closure-taking method: the futures of
/// async closures cannot yet be promised `Send` for every lifetime.)
macro_rules! with_token {
    ($keeper:ident, |$ws:ident, $t:ident| $call:expr) => {{
        let (token, expires_at, base, provider) = $keeper.token().await?;
        let $ws = provider.warehouse($keeper.tokens.egress(), &base);
        let first = {
            let $t = token.expose();
            $call.await
        };
        match first {
            Err(WarehouseError::TokenRejected(_)) => {
                $keeper.tokens.metrics().token_rejected_retry();
                $keeper.replace(expires_at).await?;
                let (token, _, _, _) = $keeper.token().await?;
                let $t = token.expose();
                Ok($call.await?)
            }
            other => Ok(other?),
        }
    }};
}

/// Attempts for a call the warehouse may turn away while busy (429, 503): the first and three
/// more, waiting about 0.25, 0.5 and 1 s between them.
const BUSY_ATTEMPTS: u32 = 4;

/// The warehouse was too busy to take the call (see [`WarehouseError::busy`]).
fn busy(e: &ConnectionError, also_unavailable: bool) -> bool {
    matches!(e, ConnectionError::Warehouse(w) if w.busy(also_unavailable))
}

/// Repeats `$call` (an expression producing a future) while the warehouse is busy, with
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

/// Reads `$chunk`'s links with `$read`. A link that no longer works (links expire after
/// about 15 minutes) is replaced by asking the warehouse for the chunk again, once.
macro_rules! from_storage {
    ($self:ident, $id:expr, $index:expr, $chunk:expr, |$c:ident| $read:expr) => {{
        let first = {
            let $c = &$chunk;
            $read.await
        };
        match first {
            Err(ConnectionError::Warehouse(WarehouseError::Storage(_))) => {
                let again = $self.chunk($id, $index).await?;
                let $c = &again;
                $read.await
            }
            other => other,
        }
    }};
}

pub struct TokenKeeper {
    tokens: TokenService,
    holder: Holder,
    current: Mutex<Fresh>,
}

/// How long a token must last before a statement with this time limit is submitted.
pub fn up_front_seconds(timeout_seconds: i64) -> i64 {
    (timeout_seconds + PER_CALL_SECONDS).min(MOST_UP_FRONT_SECONDS)
}

impl TokenKeeper {
    /// The provider of the credential this keeper calls with.
    pub async fn provider(&self) -> &'static dyn crate::providers::Provider {
        self.current.lock().await.provider
    }

    /// The warehouse's name for the identity this keeper calls as.
    pub async fn identity_name(&self) -> String {
        self.current
            .lock()
            .await
            .credential
            .databricks_user_name
            .clone()
    }

    /// The caller's credential on `c` ([`Holder::caller`]: never another user's own).
    pub async fn for_caller(
        tokens: &TokenService,
        p: &Principal,
        c: &ConnectionRow,
    ) -> Result<TokenKeeper, ConnectionError> {
        TokenKeeper::new(tokens, Holder::caller(p, c), PER_CALL_SECONDS).await
    }

    pub async fn new(
        tokens: &TokenService,
        holder: Holder,
        min_remaining: i64,
    ) -> Result<TokenKeeper, ConnectionError> {
        let fresh = tokens.fresh(&holder, min_remaining).await?;
        tokens.touch(&fresh.credential).await?;
        Ok(TokenKeeper {
            tokens: tokens.clone(),
            holder,
            current: Mutex::new(fresh),
        })
    }

    /// A token with at least a call's worth of time left, its expiry, the API's URL and
    /// the provider that serves it.
    async fn token(
        &self,
    ) -> Result<(Secret, i64, String, &'static dyn crate::providers::Provider), ConnectionError>
    {
        let mut cur = self.current.lock().await;
        if cur.expires_at - self.tokens.now() < PER_CALL_SECONDS {
            *cur = self.tokens.fresh(&self.holder, PER_CALL_SECONDS).await?;
        }
        Ok((
            cur.token.clone(),
            cur.expires_at,
            cur.base_url.clone(),
            cur.provider,
        ))
    }

    /// Replaces a token the warehouse rejected, unless a peer already did.
    async fn replace(&self, rejected_expires_at: i64) -> Result<(), ConnectionError> {
        let mut cur = self.current.lock().await;
        if cur.expires_at != rejected_expires_at {
            return Ok(());
        }
        // Asking for more time than the rejected token had forces a refresh, while a token
        // a peer stored meanwhile (which expires later) is taken as it is.
        let need = rejected_expires_at - self.tokens.now() + 1;
        *cur = self
            .tokens
            .fresh(&self.holder, need.max(PER_CALL_SECONDS))
            .await?;
        Ok(())
    }

    /// Submits a statement. Repeated when the warehouse said 429 (it did not take it), and
    /// also after 502–504 or connection trouble when the provider's submissions carry an
    /// idempotency key (a resent one runs once); otherwise a lost answer is never resent.
    pub async fn submit(&self, req: &Submit<'_>) -> Result<Statement, ConnectionError> {
        let idempotent = self.current.lock().await.provider.info().idempotent_submit;
        while_busy!(idempotent, async {
            with_token!(self, |ws, t| ws.submit(t, req))
        })
    }

    /// The warehouse's estimate of what `req` would read (`None`: it offers none).
    pub async fn dry_run(&self, req: &Submit<'_>) -> Result<Option<u64>, ConnectionError> {
        while_busy!(true, async {
            with_token!(self, |ws, t| ws.dry_run(t, req))
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
    /// `known` is the chunk if it is at hand (chunk 0 comes with the statement).
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
        from_storage!(self, id, index, chunk, |c| self.download_all(c))
    }

    /// Result part `index` as the bytes behind each of its links (Arrow IPC streams).
    pub async fn chunk_bytes(
        &self,
        id: &str,
        index: u64,
        known: Option<Chunk>,
    ) -> Result<Vec<Bytes>, ConnectionError> {
        let chunk = match known {
            Some(c) => c,
            None => self.chunk(id, index).await?,
        };
        from_storage!(self, id, index, chunk, |c| self.download_bytes(c))
    }

    async fn download_bytes(&self, chunk: &Chunk) -> Result<Vec<Bytes>, ConnectionError> {
        let mut parts = Vec::with_capacity(chunk.external_links.len());
        for link in &chunk.external_links {
            parts.push(Bytes::from(fetch(self.tokens.egress(), link).await?));
        }
        Ok(parts)
    }

    async fn download_all(&self, chunk: &Chunk) -> Result<Rows, ConnectionError> {
        let mut rows = Rows::new();
        for link in &chunk.external_links {
            rows.extend(download(self.tokens.egress(), link).await?);
        }
        Ok(rows)
    }

    pub async fn cancel(&self, id: &str) -> Result<(), ConnectionError> {
        with_token!(self, |ws, t| ws.cancel(t, id))
    }

    pub async fn me(&self) -> Result<Identity, ConnectionError> {
        with_token!(self, |ws, t| ws.me(t))
    }

    pub async fn warehouses(&self) -> Result<Vec<Compute>, ConnectionError> {
        with_token!(self, |ws, t| ws.computes(t))
    }

    pub async fn warehouse(&self, id: &str) -> Result<Compute, ConnectionError> {
        with_token!(self, |ws, t| ws.compute(t, id))
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
