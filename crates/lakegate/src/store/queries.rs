//! Queries: Lakegate's id for a Databricks statement, its owner, and how it ended.

use sqlx::FromRow;

use super::states::QueryState;
use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct QueryRow {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub connection_id: String,
    pub statement_id: String,
    pub statement: String,
    #[sqlx(try_from = "String")]
    pub state: QueryState,
    pub row_limit: Option<i64>,
    pub timeout_seconds: i64,
    pub submitted_at: i64,
    pub finished_at: Option<i64>,
    pub row_count: Option<i64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The credential it ran on, when not the caller's own on `connection_id`: the owner's
    /// on a shared identity, or the fallback connection's (`allow_fallback`).
    pub ran_as_connection_id: Option<String>,
    pub ran_as_user_id: Option<String>,
}

impl QueryRow {
    /// Whose credential runs this query's follow-ups: the one it was submitted on.
    pub fn credential_holder(&self) -> (&str, &str) {
        match (&self.ran_as_connection_id, &self.ran_as_user_id) {
            (Some(c), Some(u)) => (c, u),
            _ => (&self.connection_id, &self.user_id),
        }
    }
}

/// Which of a user's queries to list.
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    pub connection_id: Option<String>,
    pub state: Option<QueryState>,
    /// Older than this (submitted_at, id): the next page of a newest-first list.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// How a query ended.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    pub state: QueryState,
    pub finished_at: i64,
    pub row_count: Option<i64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl QueryOutcome {
    /// An outcome with no rows and no error (add them with struct update syntax).
    pub fn ended(state: QueryState, finished_at: i64) -> Self {
        QueryOutcome {
            state,
            finished_at,
            row_count: None,
            error_code: None,
            error_message: None,
        }
    }
}

macro_rules! select_queries {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, user_id, connection_id, statement_id, statement, state, row_limit, \
             timeout_seconds, submitted_at, finished_at, row_count, error_code, error_message, \
             ran_as_connection_id, ran_as_user_id FROM queries ",
            $tail
        )
    };
}

impl Store {
    /// Records a submitted query — already with its outcome when it ended within the
    /// submission, so a short query costs one write.
    pub async fn insert_query(&self, q: &QueryRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO queries (id, org_id, user_id, connection_id, statement_id, statement, state, \
             row_limit, timeout_seconds, submitted_at, ran_as_connection_id, ran_as_user_id, \
             finished_at, row_count, error_code, error_message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&q.id)
        .bind(&q.org_id)
        .bind(&q.user_id)
        .bind(&q.connection_id)
        .bind(&q.statement_id)
        .bind(&q.statement)
        .bind(q.state.as_str())
        .bind(q.row_limit)
        .bind(q.timeout_seconds)
        .bind(q.submitted_at)
        .bind(&q.ran_as_connection_id)
        .bind(&q.ran_as_user_id)
        .bind(q.finished_at)
        .bind(q.row_count)
        .bind(&q.error_code)
        .bind(&q.error_message)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// `user_id`'s query; anyone else's is `None`.
    pub async fn query(&self, user_id: &str, id: &str) -> StoreResult<Option<QueryRow>> {
        Ok(
            sqlx::query_as::<_, QueryRow>(select_queries!("WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Records the outcome once; a query that already ended keeps its first outcome.
    pub async fn finish_query(&self, id: &str, o: &QueryOutcome) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE queries SET state = $1, finished_at = $2, row_count = $3, error_code = $4, \
             error_message = $5 WHERE id = $6 AND finished_at IS NULL",
        )
        .bind(o.state.as_str())
        .bind(o.finished_at)
        .bind(o.row_count)
        .bind(&o.error_code)
        .bind(&o.error_message)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queries submitted before `before` that have no outcome yet, oldest first.
    pub async fn unfinished_queries(&self, before: i64, limit: i64) -> StoreResult<Vec<QueryRow>> {
        Ok(sqlx::query_as::<_, QueryRow>(select_queries!(
            "WHERE finished_at IS NULL AND submitted_at < $1 ORDER BY submitted_at LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `user_id`'s most recent queries, newest first.
    /// `user_id`'s queries as `f` selects them, newest first.
    pub async fn list_queries(&self, user_id: &str, f: &QueryFilter) -> StoreResult<Vec<QueryRow>> {
        let (before_at, before_id) = match &f.before {
            Some((at, id)) => (Some(*at), Some(id.as_str())),
            None => (None, None),
        };
        Ok(sqlx::query_as::<_, QueryRow>(select_queries!(
            "WHERE user_id = $1 \
               AND ($2 IS NULL OR connection_id = $2) \
               AND ($3 IS NULL OR state = $3) \
               AND ($4 IS NULL OR submitted_at < $4 OR (submitted_at = $4 AND id < $5)) \
             ORDER BY submitted_at DESC, id DESC LIMIT $6"
        ))
        .bind(user_id)
        .bind(&f.connection_id)
        .bind(f.state.map(QueryState::as_str))
        .bind(before_at)
        .bind(before_id)
        .bind(f.limit)
        .fetch_all(self.pool())
        .await?)
    }
}
