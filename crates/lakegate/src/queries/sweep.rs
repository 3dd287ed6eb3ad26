//! The sweeper every replica runs: queries nobody is polling are followed up — how those
//! that ended ended is recorded, and those past their time limit are cancelled upstream —
//! so a time limit holds even when the client went away.

use std::sync::Arc;

use super::QueryError;
use super::service::{QueryService, Running};
use crate::connections::RanAs;
use crate::store::{QueryOutcome, QueryState};
use crate::tokens::Holder;
use crate::tokens::keeper::TokenKeeper;

impl QueryService {
    /// Follows up on queries nobody is polling (every replica runs this in the background):
    /// records how those that ended ended, and cancels upstream those past their time limit, so
    /// a limit holds even when the client went away. Returns how many were looked at.
    pub async fn sweep_unfinished(&self, batch: i64) -> usize {
        // Give clients a minute to poll themselves.
        let rows = match self.store.unfinished_queries(self.now() - 60, batch).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not list unfinished queries");
                return 0;
            }
        };
        let n = rows.len();
        for query in rows {
            let holder = Holder::of_query(&query);
            let past_limit = self.now() >= query.submitted_at + query.timeout_seconds;
            let keeper = match TokenKeeper::new(&self.tokens, holder.clone(), 60).await {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    // No usable credential (the user disconnected, or must sign in again): the
                    // query cannot be followed; once past its limit it is recorded as abandoned.
                    if past_limit {
                        let outcome = QueryOutcome {
                            error_code: Some("ABANDONED".into()),
                            error_message: Some(format!("could not be followed up: {e}")),
                            ..QueryOutcome::ended(QueryState::Abandoned, self.now())
                        };
                        let _ = self.record(&query.id, outcome).await;
                    }
                    continue;
                }
            };
            let mut running = Running {
                statement: Self::placeholder(&query.statement_id),
                ran_as: RanAs {
                    identity: String::new(),
                    connection_id: holder.connection_id.clone(),
                    fallback: holder.connection_id != query.connection_id,
                },
                query,
                keeper,
            };
            match self.poll(&mut running).await {
                Ok(()) | Err(QueryError::TimedOut(_)) => {}
                Err(e) => {
                    tracing::warn!(query_id = %running.query.id, error = %e, "could not follow up a query");
                }
            }
        }
        n
    }
}
