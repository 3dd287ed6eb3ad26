//! Emulated warehouses for Lakegate's tests and demo. One shared engine — a real SQL engine
//! (SQLite behind a Databricks-dialect parser) over sample data, users with per-user
//! grants, an OAuth authorization-server core (codes, PKCE, refresh-token rotation and
//! reuse detection), an injected clock, faults and counters — and a front-end per vendor
//! that speaks its URLs, JSON shapes and error words: Databricks (OAuth U2M, SCIM `Me`, SQL
//! warehouses, Unity Catalog, the Statement Execution API) and Snowflake (OAuth with a
//! custom security integration; the SQL API comes next). No production code path of
//! Lakegate uses it.

// Handlers answer early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod control;
pub mod databricks;
pub mod engine;
pub mod google;
mod server;
pub mod snowflake;
mod state;

pub use config::{
    AppConfig, EmulatorConfig, GoogleClientConfig, GoogleProjectConfig, SnowflakeIntegrationConfig,
    TokenPolicy, UserConfig, WarehouseConfig,
};
pub use databricks::account::AppRequest;
pub use engine::faults::{FaultRequest as Fault, Target};
pub use server::{Emulator, EmulatorHandle};
