//! A query's life: submit as the caller, wait (polling with backoff) within a budget,
//! resume from any replica by query id, cancel, and hand the result over chunk by chunk.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};

use crate::app::AppState;
use crate::auth::Principal;
use crate::connections::{self, Purpose};
use crate::store::{QueryOutcome, QueryRow};
use crate::warehouse::statements::{Column, State, Statement, Submit};

use super::{QueryError, QuerySpec};
use crate::connections::keeper::{Holder, TokenKeeper, up_front_seconds};
pub use crate::warehouse::statements::Rows;

/// Chunks fetched at once while streaming; memory stays at about this many chunks.
const CHUNK_FETCHES: usize = 4;
/// Lakegate's own state for a query that outlived its time limit.
pub const TIMED_OUT: &str = "TIMED_OUT";
const CANCELED: &str = "CANCELED";

/// A submitted query and the latest word from Databricks about it.
pub struct Running {
    pub query: QueryRow,
    pub statement: Statement,
    keeper: Arc<TokenKeeper>,
}

impl Running {
    pub fn state(&self) -> State {
        self.statement.status.state
    }
}

/// A successful result, ready to stream.
pub struct ResultSet {
    pub query_id: String,
    pub statement_id: String,
    pub columns: Vec<Column>,
    pub truncated: bool,
    pub total_rows: u64,
    pub chunks: BoxStream<'static, Result<Rows, QueryError>>,
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Pending => "PENDING",
        State::Running => "RUNNING",
        State::Succeeded => "SUCCEEDED",
        State::Failed => "FAILED",
        State::Canceled => CANCELED,
        State::Closed => "CLOSED",
    }
}

/// The statement with a provenance tag Databricks' query history shows: which Lakegate
/// organization, connection and query sent it. Ids only — no names, emails or tokens. A
/// trailing block comment on its own line cannot change what the statement does.
pub fn tag(statement: &str, org_id: &str, connection_id: &str, query_id: &str) -> String {
    let clean = |id: &str| -> String {
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    };
    format!(
        "{statement}\n/* lakegate org={} connection={} query={} */",
        clean(org_id),
        clean(connection_id),
        clean(query_id)
    )
}

/// Submits `spec` on the caller's credential for `connection_id`. With `spec.wait` Databricks
/// holds the answer up to 10 s, so short queries finish in one round trip.
pub async fn submit(
    state: &AppState,
    p: &Principal,
    connection_id: &str,
    spec: &QuerySpec,
) -> Result<Running, QueryError> {
    let c = connections::load(state, p, connection_id, Purpose::Use).await?;
    let warehouse_id = spec
        .warehouse_id
        .clone()
        .or_else(|| c.warehouse_id.clone())
        .ok_or_else(|| {
            QueryError::Invalid(
                "pick a SQL warehouse for this connection, or pass warehouse_id".into(),
            )
        })?;
    let need = up_front_seconds(spec.timeout_seconds);
    let keeper = Arc::new(TokenKeeper::new(state, Holder::caller(p, &c), need).await?);
    let query_id = uuid::Uuid::now_v7().to_string();
    // The time limit counts from the submission, not from its answer (which may wait 10 s).
    let submitted_at = state.now();
    let tagged = tag(&spec.statement, &p.org.id, &c.id, &query_id);
    let request = Submit {
        warehouse_id: &warehouse_id,
        statement: &tagged,
        catalog: spec.catalog.as_deref().or(c.catalog.as_deref()),
        schema: spec.schema.as_deref().or(c.schema_name.as_deref()),
        parameters: &spec.parameters,
        row_limit: spec.row_limit,
        wait_timeout: if spec.wait { "10s" } else { "0s" }.into(),
        on_wait_timeout: "CONTINUE",
        disposition: if spec.external_links {
            "EXTERNAL_LINKS"
        } else {
            "INLINE"
        },
        format: "JSON_ARRAY",
    };
    let statement = keeper.submit(&request).await?;
    let query = QueryRow {
        id: query_id,
        org_id: p.org.id.clone(),
        user_id: p.user.id.clone(),
        connection_id: c.id,
        statement_id: statement.statement_id.clone(),
        statement: spec.statement.clone(),
        state: state_name(statement.status.state).into(),
        row_limit: spec.row_limit.map(|n| n as i64),
        timeout_seconds: spec.timeout_seconds,
        submitted_at,
        finished_at: None,
        row_count: None,
        error_code: None,
        error_message: None,
    };
    state.store.insert_query(&query).await?;
    tracing::debug!(query_id = %query.id, statement_id = %query.statement_id, "query submitted");
    let mut running = Running {
        query,
        statement,
        keeper,
    };
    settle(state, &mut running).await?;
    Ok(running)
}

/// The caller's query `id`, with its current state from Databricks.
pub async fn resume(state: &AppState, p: &Principal, id: &str) -> Result<Running, QueryError> {
    let mut running = reopen(state, p, id).await?;
    poll(state, &mut running).await?;
    Ok(running)
}

/// The caller's query, without asking Databricks yet. A query whose connection the caller
/// may no longer use is refused like any other use of that connection.
async fn reopen(state: &AppState, p: &Principal, id: &str) -> Result<Running, QueryError> {
    let query = state
        .store
        .query(&p.user.id, id)
        .await?
        .ok_or(QueryError::NotFound)?;
    if query.state == TIMED_OUT {
        return Err(QueryError::TimedOut(query.timeout_seconds));
    }
    let c = connections::load(state, p, &query.connection_id, Purpose::Use).await?;
    let keeper = Arc::new(TokenKeeper::for_caller(state, p, &c).await?);
    Ok(Running {
        statement: placeholder(&query.statement_id),
        query,
        keeper,
    })
}

/// Follows up on queries nobody is polling (every replica runs this in the background):
/// records how those that ended ended, and cancels upstream those past their time limit, so
/// a limit holds even when the client went away. Returns how many were looked at.
pub async fn sweep_unfinished(state: &AppState, batch: i64) -> usize {
    // Give clients a minute to poll themselves.
    let rows = match state
        .store
        .unfinished_queries(state.now() - 60, batch)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not list unfinished queries");
            return 0;
        }
    };
    let n = rows.len();
    for query in rows {
        let holder = Holder {
            connection_id: query.connection_id.clone(),
            user_id: query.user_id.clone(),
            org_id: query.org_id.clone(),
        };
        let past_limit = state.now() >= query.submitted_at + query.timeout_seconds;
        let keeper = match TokenKeeper::new(state, holder, 60).await {
            Ok(k) => Arc::new(k),
            Err(e) => {
                // No usable credential (the user disconnected, or must sign in again): the
                // query cannot be followed; once past its limit it is recorded as abandoned.
                if past_limit {
                    let outcome = QueryOutcome {
                        state: "ABANDONED".into(),
                        finished_at: state.now(),
                        error_code: Some("ABANDONED".into()),
                        error_message: Some(format!("could not be followed up: {e}")),
                        ..QueryOutcome::default()
                    };
                    let _ = record(state, &query.id, outcome).await;
                }
                continue;
            }
        };
        let mut running = Running {
            statement: placeholder(&query.statement_id),
            query,
            keeper,
        };
        match poll(state, &mut running).await {
            Ok(()) | Err(QueryError::TimedOut(_)) => {}
            Err(e) => {
                tracing::warn!(query_id = %running.query.id, error = %e, "could not follow up a query");
            }
        }
    }
    n
}

/// A statement not asked about yet.
fn placeholder(statement_id: &str) -> Statement {
    Statement {
        statement_id: statement_id.to_owned(),
        status: crate::warehouse::statements::Status {
            state: State::Pending,
            error: None,
            sql_state: None,
        },
        manifest: None,
        result: None,
    }
}

/// Asks Databricks for the statement's state once.
pub async fn poll(state: &AppState, r: &mut Running) -> Result<(), QueryError> {
    enforce_limit(state, r).await?;
    let id = r.query.statement_id.clone();
    r.statement = r.keeper.statement(&id).await?;
    settle(state, r).await
}

/// Polls until the statement ends or `budget` (wall time this request may wait) runs out.
pub async fn wait(state: &AppState, r: &mut Running, budget: Duration) -> Result<(), QueryError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    while !r.state().terminal() {
        if started.elapsed() + delay > budget {
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
        poll(state, r).await?;
    }
    Ok(())
}

/// Cancels the caller's query upstream; the outcome is CANCELED unless it had already ended.
pub async fn cancel(state: &AppState, p: &Principal, id: &str) -> Result<String, QueryError> {
    let r = reopen(state, p, id).await?;
    if r.query.finished_at.is_some() {
        return Ok(r.query.state);
    }
    let sid = r.query.statement_id.clone();
    r.keeper.cancel(&sid).await?;
    record(
        state,
        &r.query.id,
        QueryOutcome {
            state: CANCELED.into(),
            finished_at: state.now(),
            ..QueryOutcome::default()
        },
    )
    .await?;
    Ok(CANCELED.into())
}

/// Cancels and fails a query that ran past its time limit (on Lakegate's clock).
async fn enforce_limit(state: &AppState, r: &mut Running) -> Result<(), QueryError> {
    let limit = r.query.timeout_seconds;
    if r.query.finished_at.is_some() || state.now() < r.query.submitted_at + limit {
        return Ok(());
    }
    let sid = r.query.statement_id.clone();
    // Best effort: the statement may have ended on its own meanwhile.
    if let Err(e) = r.keeper.cancel(&sid).await {
        tracing::warn!(query_id = %r.query.id, error = %e, "cancelling a query past its time limit failed");
    }
    record(
        state,
        &r.query.id,
        QueryOutcome {
            state: TIMED_OUT.into(),
            finished_at: state.now(),
            error_code: Some("TIMED_OUT".into()),
            error_message: Some(format!("ran longer than {limit} seconds")),
            ..QueryOutcome::default()
        },
    )
    .await?;
    Err(QueryError::TimedOut(limit))
}

/// Records a terminal state the first time it is seen.
async fn settle(state: &AppState, r: &mut Running) -> Result<(), QueryError> {
    let s = &r.statement;
    r.query.state = state_name(s.status.state).into();
    if !s.status.state.terminal() || r.query.finished_at.is_some() {
        return Ok(());
    }
    let outcome = QueryOutcome {
        state: r.query.state.clone(),
        finished_at: state.now(),
        row_count: s.manifest.as_ref().map(|m| m.total_row_count as i64),
        error_code: s.status.error.as_ref().and_then(|e| e.error_code.clone()),
        error_message: s.status.error.as_ref().and_then(|e| e.message.clone()),
    };
    r.query.finished_at = Some(outcome.finished_at);
    r.query.row_count = outcome.row_count;
    record(state, &r.query.id, outcome).await
}

async fn record(state: &AppState, id: &str, o: QueryOutcome) -> Result<(), QueryError> {
    if state.store.finish_query(id, &o).await? {
        state.metrics.query_finished(&o.state);
    }
    Ok(())
}

/// The result of a finished query, or the reason there is none.
pub fn results(r: Running) -> Result<ResultSet, QueryError> {
    let Running {
        query,
        statement,
        keeper,
    } = r;
    match statement.status.state {
        State::Succeeded => {}
        State::Failed => {
            let e =
                statement
                    .status
                    .error
                    .unwrap_or(crate::warehouse::statements::StatementError {
                        error_code: None,
                        message: None,
                    });
            return Err(QueryError::Failed {
                error_code: e.error_code.unwrap_or_else(|| "UNKNOWN".into()),
                message: e
                    .message
                    .unwrap_or_else(|| "the statement failed on Databricks".into()),
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
    let chunks = stream::iter(0..total)
        .map(move |i| {
            let keeper = keeper.clone();
            let id = id.clone();
            let known = if i == 0 { first.take() } else { None };
            async move {
                keeper
                    .chunk_rows(&id, i, known)
                    .await
                    .map_err(QueryError::from)
            }
        })
        .buffered(CHUNK_FETCHES)
        .boxed();
    Ok(ResultSet {
        query_id: query.id,
        statement_id: statement.statement_id,
        columns: manifest.columns().to_vec(),
        truncated: manifest.truncated,
        total_rows: manifest.total_row_count,
        chunks,
    })
}
