//! A local Databricks workspace for Lakegate's tests and demo: OAuth U2M (authorize page,
//! token endpoint with rotation and reuse detection), SCIM `Me`, SQL warehouses, Unity
//! Catalog listings and the SQL Statement Execution API over a real SQL engine (SQLite
//! behind a Databricks-dialect parser). No production code path of Lakegate uses it.

// Handlers answer early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod account;
pub mod clock;
pub mod config;
pub mod control;
mod errors;
pub mod jwt;
pub mod oauth;
mod rest;
mod server;
pub mod sql;
mod state;
mod statements;
mod storage;
mod tls;
mod warehouses;

pub use account::AppRequest;
pub use config::{AppConfig, EmulatorConfig, TokenPolicy, UserConfig, WarehouseConfig};
pub use control::{FaultRequest as Fault, Target};
pub use server::{Emulator, EmulatorHandle};
