//! The refresh storm every provider's stress test runs: three replicas on one store, a
//! crowd of callers spread over them, round after round of expiries.

use lakegate::http::state::AppState;

use crate::harness::{TestApp, TestDb, fresh_on};
use crate::world::Setup;

/// Three replicas of `s.app` on `db`: the app itself and two more processes' worth.
pub async fn replicas(db: &TestDb, s: &Setup) -> [AppState; 3] {
    [
        s.app.state.clone(),
        TestApp::spawn_replica_on(db, &s.app).await.state,
        TestApp::spawn_replica_on(db, &s.app).await.state,
    ]
}

/// `LAKEGATE_STRESS_ROUNDS`, else `default`.
pub fn rounds(default: u64) -> u64 {
    std::env::var("LAKEGATE_STRESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// `callers` concurrent callers over `replicas`, each asking for `(conn, user, org)`'s token
/// with a minute left; a failing caller fails the test, naming the round.
pub async fn crowd(
    replicas: &[AppState],
    (conn, user_id, org_id): (&str, &str, &str),
    callers: usize,
    round: u64,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..callers {
        let state = replicas[i % replicas.len()].clone();
        let (conn, user_id, org_id) = (conn.to_owned(), user_id.to_owned(), org_id.to_owned());
        tasks.spawn(async move {
            fresh_on(&state, &conn, &user_id, &org_id, 60)
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap()
            .unwrap_or_else(|e| panic!("round {round}: a caller failed: {e}"));
    }
}
