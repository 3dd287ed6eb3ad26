//! A query's life: submit as the caller, wait (polling with backoff) within a budget,
//! resume from any replica by query id, cancel, and hand the result over chunk by chunk.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::TryStreamExt;
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::audit::Actor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::connections::{ConnectionError, ConnectionService, Purpose, RanAs};
use crate::metrics::Metrics;
use crate::store::{ConnectionRow, QueryFilter, QueryOutcome, QueryRow, QueryState, Store};
use crate::tokens::Holder;
use crate::tokens::TokenService;
use crate::tokens::keeper::{PER_CALL_SECONDS, TokenKeeper, up_front_seconds};
use crate::warehouse::model::{StatementError, Status};
use crate::warehouse::{Column, State, Statement, Submit};

use super::{QueryError, QuerySpec};
pub use crate::warehouse::Rows;

/// Chunks fetched at once while streaming; memory stays at about this many chunks.
const CHUNK_FETCHES: usize = 4;

/// Queries: submitted as the caller, followed up from any replica.
#[derive(Clone)]
pub struct QueryService {
    pub(super) store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    connections: ConnectionService,
    pub(super) tokens: TokenService,
}

/// A submitted query and the latest word from Databricks about it.
pub struct Running {
    pub query: QueryRow,
    pub statement: Statement,
    /// Whose identity runs it.
    pub ran_as: RanAs,
    pub(super) keeper: Arc<TokenKeeper>,
}

impl Running {
    pub fn state(&self) -> State {
        self.statement.status.state
    }
}

/// What is known of a successful result before its parts are read.
pub struct ResultSet {
    pub query_id: String,
    pub statement_id: String,
    pub columns: Vec<Column>,
    pub truncated: bool,
    pub total_rows: u64,
    pub ran_as: RanAs,
}

/// What fetching one part takes: the keeper, the statement, the index, the part if known.
type Part = (
    Arc<TokenKeeper>,
    String,
    u64,
    Option<crate::warehouse::Chunk>,
);

/// A result's parts as they arrive: JSON rows, or Arrow IPC streams (one per part).
pub enum Parts {
    Rows(BoxStream<'static, Result<Rows, QueryError>>),
    Arrow(BoxStream<'static, Result<Vec<Bytes>, QueryError>>),
}

/// The stored state of a warehouse state.
pub fn stored_state(s: State) -> QueryState {
    match s {
        State::Pending => QueryState::Pending,
        State::Running => QueryState::Running,
        State::Succeeded => QueryState::Succeeded,
        State::Failed => QueryState::Failed,
        State::Canceled => QueryState::Canceled,
        State::Closed => QueryState::Closed,
    }
}

/// The statement with a provenance tag Databricks' query history shows: which Lakegate
/// organization, connection, user and query sent it — the user matters most where the
/// warehouse sees a shared identity (a service principal, a token's owner). Ids only — no
/// names, emails or tokens. A trailing block comment on its own line cannot change what
/// the statement does.
pub fn tag(
    statement: &str,
    org_id: &str,
    connection_id: &str,
    user_id: &str,
    query_id: &str,
) -> String {
    let clean = |id: &str| -> String {
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    };
    format!(
        "{statement}\n/* lakegate org={} connection={} user={} query={} */",
        clean(org_id),
        clean(connection_id),
        clean(user_id),
        clean(query_id)
    )
}

impl QueryService {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        connections: ConnectionService,
        tokens: TokenService,
    ) -> Self {
        QueryService {
            store,
            clock,
            metrics,
            connections,
            tokens,
        }
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The caller's queries as `f` selects them, newest first.
    pub async fn history(
        &self,
        p: &Principal,
        f: &QueryFilter,
    ) -> Result<Vec<QueryRow>, QueryError> {
        Ok(self.store.list_queries(&p.user.id, f).await?)
    }

    /// Submits `spec` on the caller's credential for `connection_id` (or, with
    /// `spec.allow_fallback`, the connection's fallback when the caller must sign in). With
    /// `spec.wait` the warehouse holds the answer up to 10 s, so short queries finish in
    /// one round trip.
    pub async fn submit(
        &self,
        p: &Principal,
        actor: &Actor,
        connection_id: &str,
        spec: &QuerySpec,
    ) -> Result<Running, QueryError> {
        let c = self
            .connections
            .load(p, connection_id, Purpose::Use)
            .await?;
        let warehouse_id = compute_of(&c, spec)?;
        let need = up_front_seconds(spec.timeout_seconds);
        let tokens = &self.tokens;
        let chosen = self
            .connections
            .with_fallback(p, actor, &c, spec.allow_fallback, |h| async move {
                TokenKeeper::new(tokens, h, need).await
            })
            .await?;
        let keeper = Arc::new(chosen.value);
        let info = keeper.provider().await.info();
        if spec.arrow && !info.arrow_stream {
            return Err(QueryError::NotAcceptable(format!(
                "{} results are not available as Arrow; ask for application/x-ndjson or text/csv",
                info.product
            )));
        }
        let ran_as = RanAs {
            identity: keeper.identity_name().await,
            connection_id: chosen.holder.connection_id.clone(),
            fallback: chosen.fallback,
        };
        // Recorded when it is not the caller's own credential on `c`, so follow-ups use it.
        let own = chosen.holder.connection_id == c.id && chosen.holder.user_id == p.user.id;
        let query_id = uuid::Uuid::now_v7().to_string();
        // The time limit counts from the submission, not from its answer (which may wait 10 s).
        let submitted_at = self.now();
        let tagged = tag(&spec.statement, &p.org.id, &c.id, &p.user.id, &query_id);
        let request = submission(&c, spec, &warehouse_id, &tagged, &query_id);
        let statement = keeper.submit(&request).await?;
        let outcome = outcome_of(&statement, self.now());
        let query = QueryRow {
            id: query_id,
            org_id: p.org.id.clone(),
            user_id: p.user.id.clone(),
            connection_id: c.id,
            statement_id: statement.statement_id.clone(),
            statement: spec.statement.clone(),
            state: stored_state(statement.status.state),
            row_limit: spec.row_limit.map(|n| n as i64),
            timeout_seconds: spec.timeout_seconds,
            submitted_at,
            finished_at: outcome.as_ref().map(|o| o.finished_at),
            row_count: outcome.as_ref().and_then(|o| o.row_count),
            error_code: outcome.as_ref().and_then(|o| o.error_code.clone()),
            error_message: outcome.as_ref().and_then(|o| o.error_message.clone()),
            ran_as_connection_id: (!own).then(|| chosen.holder.connection_id.clone()),
            ran_as_user_id: (!own).then(|| chosen.holder.user_id.clone()),
        };
        self.store.insert_query(&query).await?;
        if let Some(o) = &outcome {
            self.metrics.query_finished(o.state.as_str());
        }
        tracing::debug!(query_id = %query.id, statement_id = %query.statement_id, "query submitted");
        let mut running = Running {
            query,
            statement,
            ran_as,
            keeper,
        };
        self.settle(&mut running).await?;
        Ok(running)
    }

    /// What `spec` would read, estimated by the warehouse without running it (a dry run):
    /// nothing is submitted or recorded.
    pub async fn estimate(
        &self,
        p: &Principal,
        connection_id: &str,
        spec: &QuerySpec,
    ) -> Result<u64, QueryError> {
        let c = self
            .connections
            .load(p, connection_id, Purpose::Use)
            .await?;
        let warehouse_id = compute_of(&c, spec)?;
        let keeper = TokenKeeper::for_caller(&self.tokens, p, &c).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let request = submission(&c, spec, &warehouse_id, &spec.statement, &id);
        keeper.dry_run(&request).await?.ok_or_else(|| {
            let product = crate::providers::by_connection(&c.provider, &c.auth)
                .map_or("this warehouse", |p| p.info().product);
            QueryError::Invalid(format!("{product} offers no dry run"))
        })
    }

    /// The caller's query `id`, with its current state from the warehouse.
    pub async fn resume(&self, p: &Principal, id: &str) -> Result<Running, QueryError> {
        let mut running = self.reopen(p, id).await?;
        self.poll(&mut running).await?;
        Ok(running)
    }

    /// The caller's query, without asking the warehouse yet. A query whose connection the
    /// caller may no longer use is refused like any other use of that connection.
    async fn reopen(&self, p: &Principal, id: &str) -> Result<Running, QueryError> {
        let query = self
            .store
            .query(&p.user.id, id)
            .await?
            .ok_or(QueryError::NotFound)?;
        if query.state == QueryState::TimedOut {
            return Err(QueryError::TimedOut(query.timeout_seconds));
        }
        let c = self
            .connections
            .load(p, &query.connection_id, Purpose::Use)
            .await?;
        let holder = Holder::of_query(&query);
        // A fallback ran it: followed up as the fallback while the connection still names it.
        if holder.connection_id != c.id
            && c.fallback_connection_id.as_ref() != Some(&holder.connection_id)
        {
            return Err(QueryError::Connection(ConnectionError::ReauthRequired(
                "the connection no longer names the fallback this query ran as".into(),
            )));
        }
        let keeper =
            Arc::new(TokenKeeper::new(&self.tokens, holder.clone(), PER_CALL_SECONDS).await?);
        Ok(Running {
            statement: Self::placeholder(&query.statement_id),
            ran_as: RanAs {
                identity: keeper.identity_name().await,
                fallback: holder.connection_id != c.id,
                connection_id: holder.connection_id,
            },
            query,
            keeper,
        })
    }

    /// A statement not asked about yet.
    pub(super) fn placeholder(statement_id: &str) -> Statement {
        Statement {
            statement_id: statement_id.to_owned(),
            status: Status {
                state: State::Pending,
                error: None,
                sql_state: None,
            },
            manifest: None,
            result: None,
        }
    }

    /// Asks the warehouse for the statement's state once.
    pub async fn poll(&self, r: &mut Running) -> Result<(), QueryError> {
        self.enforce_limit(r).await?;
        let id = r.query.statement_id.clone();
        r.statement = r.keeper.statement(&id).await?;
        self.settle(r).await
    }

    /// Polls until the statement ends or `budget` (wall time this request may wait) runs out.
    pub async fn wait(&self, r: &mut Running, budget: Duration) -> Result<(), QueryError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        while !r.state().terminal() {
            if started.elapsed() + delay > budget {
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(2));
            self.poll(r).await?;
        }
        Ok(())
    }

    /// Cancels the caller's query upstream; the outcome is CANCELED unless it had already ended.
    pub async fn cancel(&self, p: &Principal, id: &str) -> Result<QueryState, QueryError> {
        let r = self.reopen(p, id).await?;
        if r.query.finished_at.is_some() {
            return Ok(r.query.state);
        }
        let sid = r.query.statement_id.clone();
        r.keeper.cancel(&sid).await?;
        self.record(
            &r.query.id,
            QueryOutcome::ended(QueryState::Canceled, self.now()),
        )
        .await?;
        Ok(QueryState::Canceled)
    }

    /// Cancels and fails a query that ran past its time limit (on Lakegate's clock).
    async fn enforce_limit(&self, r: &mut Running) -> Result<(), QueryError> {
        let limit = r.query.timeout_seconds;
        if r.query.finished_at.is_some() || self.now() < r.query.submitted_at + limit {
            return Ok(());
        }
        let sid = r.query.statement_id.clone();
        // Best effort: the statement may have ended on its own meanwhile.
        if let Err(e) = r.keeper.cancel(&sid).await {
            tracing::warn!(query_id = %r.query.id, error = %e, "cancelling a query past its time limit failed");
        }
        self.record(
            &r.query.id,
            QueryOutcome {
                error_code: Some("TIMED_OUT".into()),
                error_message: Some(format!("ran longer than {limit} seconds")),
                ..QueryOutcome::ended(QueryState::TimedOut, self.now())
            },
        )
        .await?;
        Err(QueryError::TimedOut(limit))
    }

    /// Records a terminal state the first time it is seen.
    async fn settle(&self, r: &mut Running) -> Result<(), QueryError> {
        r.query.state = stored_state(r.statement.status.state);
        if r.query.finished_at.is_some() {
            return Ok(());
        }
        let Some(outcome) = outcome_of(&r.statement, self.now()) else {
            return Ok(());
        };
        r.query.finished_at = Some(outcome.finished_at);
        r.query.row_count = outcome.row_count;
        self.record(&r.query.id, outcome).await
    }

    pub(super) async fn record(&self, id: &str, o: QueryOutcome) -> Result<(), QueryError> {
        if self.store.finish_query(id, &o).await? {
            self.metrics.query_finished(o.state.as_str());
        }
        Ok(())
    }
}

/// What to record of a statement that ended; `None` while it runs.
fn outcome_of(s: &Statement, now: i64) -> Option<QueryOutcome> {
    s.status.state.terminal().then(|| QueryOutcome {
        state: stored_state(s.status.state),
        finished_at: now,
        row_count: s.manifest.as_ref().map(|m| m.total_row_count as i64),
        error_code: s.status.error.as_ref().and_then(|e| e.error_code.clone()),
        error_message: s.status.error.as_ref().and_then(|e| e.message.clone()),
    })
}

/// The result of a finished query (and its parts, to stream), or the reason there is none.
pub fn results(r: Running) -> Result<(ResultSet, Parts), QueryError> {
    let Running {
        query,
        statement,
        ran_as,
        keeper,
    } = r;
    match statement.status.state {
        State::Succeeded => {}
        State::Failed => {
            let e = statement.status.error.unwrap_or(StatementError {
                error_code: None,
                message: None,
            });
            return Err(QueryError::Failed {
                error_code: e.error_code.unwrap_or_else(|| "UNKNOWN".into()),
                message: e
                    .message
                    .unwrap_or_else(|| "the statement failed in the warehouse".into()),
                sql_state: statement.status.sql_state,
            });
        }
        State::Canceled => return Err(QueryError::Canceled),
        State::Closed => return Err(QueryError::Expired),
        State::Pending | State::Running => {
            return Err(QueryError::Invalid("the query has not finished yet".into()));
        }
    }
    let manifest = statement.manifest.unwrap_or_default();
    let total = manifest.total_chunk_count;
    // Chunk 0 (rows or links) comes with the status; fetch it if a server left it out.
    let mut first = statement
        .result
        .filter(|c| !c.data_array.is_empty() || !c.external_links.is_empty());
    let id = statement.statement_id.clone();
    let arrow = manifest.arrow();
    let each = stream::iter(0..total).map(move |i| {
        let known = if i == 0 { first.take() } else { None };
        (keeper.clone(), id.clone(), i, known)
    });
    // Parts are fetched CHUNK_FETCHES at a time and leave in order.
    let parts = if arrow {
        let get = |(k, id, i, known): Part| async move { k.chunk_bytes(&id, i, known).await };
        Parts::Arrow(each.map(get).buffered(CHUNK_FETCHES).err_into().boxed())
    } else {
        let get = |(k, id, i, known): Part| async move { k.chunk_rows(&id, i, known).await };
        Parts::Rows(each.map(get).buffered(CHUNK_FETCHES).err_into().boxed())
    };
    let set = ResultSet {
        query_id: query.id,
        statement_id: statement.statement_id,
        columns: manifest.columns().to_vec(),
        truncated: manifest.truncated,
        total_rows: manifest.total_row_count,
        ran_as,
    };
    Ok((set, parts))
}

/// The compute a query runs on: the request's, else the connection's.
fn compute_of(c: &ConnectionRow, spec: &QuerySpec) -> Result<String, QueryError> {
    spec.warehouse_id
        .clone()
        .or_else(|| c.warehouse_id.clone())
        .ok_or_else(|| {
            let what = crate::providers::by_connection(&c.provider, &c.auth)
                .map_or("SQL warehouse", |p| p.info().words.labels[0]);
            QueryError::Invalid(format!(
                "pick a {} for this connection, or pass warehouse_id",
                what.to_lowercase()
            ))
        })
}

/// What the warehouse is asked to run for `spec` on `c`.
fn submission<'a>(
    c: &'a ConnectionRow,
    spec: &'a QuerySpec,
    compute_id: &'a str,
    statement: &'a str,
    request_id: &'a str,
) -> Submit<'a> {
    Submit {
        compute_id,
        statement,
        catalog: spec.catalog.as_deref().or(c.catalog.as_deref()),
        schema: spec.schema.as_deref().or(c.schema_name.as_deref()),
        parameters: &spec.parameters,
        row_limit: spec.row_limit,
        wait_seconds: if spec.wait { 10 } else { 0 },
        external_links: spec.external_links,
        arrow: spec.arrow,
        location: c.location.as_deref(),
        request_id,
    }
}
