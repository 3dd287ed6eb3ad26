//! SQL warehouses: listing, and the stopped → starting → running lifecycle.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use crate::config::WarehouseConfig;
use crate::databricks::errors;
use crate::databricks::rest::{Caller, Need};
use crate::state::{Shared, lock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhState {
    Running,
    Stopped,
    /// Starting; running once the emulator clock reaches this time.
    Starting {
        ready_at: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    pub start_seconds: i64,
    pub state: WhState,
}

impl Warehouse {
    pub fn from_config(c: &WarehouseConfig) -> Warehouse {
        let state = if c.state.eq_ignore_ascii_case("STOPPED") {
            WhState::Stopped
        } else {
            WhState::Running
        };
        Warehouse {
            id: c.id.clone(),
            name: c.name.clone(),
            start_seconds: c.start_seconds,
            state,
        }
    }

    /// Moves a starting warehouse on when its time has come.
    pub fn tick(&mut self, now: i64) {
        if let WhState::Starting { ready_at } = self.state
            && now >= ready_at
        {
            self.state = WhState::Running;
        }
    }

    /// A statement arrived: a stopped warehouse starts.
    pub fn wake(&mut self, now: i64) {
        if self.state == WhState::Stopped {
            self.state = WhState::Starting {
                ready_at: now + self.start_seconds,
            };
        }
        self.tick(now);
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            WhState::Running => "RUNNING",
            WhState::Stopped => "STOPPED",
            WhState::Starting { .. } => "STARTING",
        }
    }

    fn json(&self, host: &str) -> Value {
        json!({
            "id": self.id, "name": self.name, "state": self.state_name(),
            "cluster_size": "2X-Small", "min_num_clusters": 1, "max_num_clusters": 1,
            "num_clusters": if self.state == WhState::Running { 1 } else { 0 },
            "num_active_sessions": 0, "auto_stop_mins": 10, "enable_photon": true,
            "enable_serverless_compute": true, "warehouse_type": "PRO", "spot_instance_policy": "COST_OPTIMIZED",
            "channel": {"name": "CHANNEL_NAME_CURRENT"}, "creator_name": "admin@example.com", "tags": {}, "health": {"status": "HEALTHY"},
            "jdbc_url": format!("jdbc:databricks://{host}:443/default;transportMode=http;ssl=1;AuthMech=3;httpPath=/sql/1.0/warehouses/{}", self.id),
            "odbc_params": {"hostname": host, "path": format!("/sql/1.0/warehouses/{}", self.id), "port": 443, "protocol": "https"},
        })
    }
}

fn host(s: &Shared) -> String {
    url::Url::parse(&s.base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn list(State(s): State<Arc<Shared>>, Extension(c): Extension<Caller>) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    let now = s.clock.now();
    let host = host(&s);
    let mut whs = lock(&s.warehouses);
    let items: Vec<Value> = whs
        .iter_mut()
        .map(|w| {
            w.tick(now);
            w.json(&host)
        })
        .collect();
    Json(json!({"warehouses": items})).into_response()
}

pub async fn get_one(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    let now = s.clock.now();
    let host = host(&s);
    let mut whs = lock(&s.warehouses);
    match whs.iter_mut().find(|w| w.id == id) {
        Some(w) => {
            w.tick(now);
            Json(w.json(&host)).into_response()
        }
        None => errors::not_found(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Warehouse {id} does not exist."),
        ),
    }
}

/// Waits (on the emulator clock, looking every 20 ms) until warehouse `id` runs: true when
/// it does, false when it is gone or `ended()` says the statement no longer waits.
pub async fn wait_running(s: &crate::state::Shared, id: &str, ended: impl Fn() -> bool) -> bool {
    loop {
        let running = {
            let now = s.clock.now();
            let mut whs = crate::state::lock(&s.warehouses);
            whs.iter_mut().find(|w| w.id == id).map(|w| {
                w.tick(now);
                w.state == WhState::Running
            })
        };
        if ended() || running.is_none() {
            return false;
        }
        if running == Some(true) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
