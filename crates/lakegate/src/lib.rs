//! Lakegate: per-user OAuth connections to data warehouses, as a self-hosted service.
//!
//! `main.rs` only parses arguments; everything lives here so the integration tests can
//! build the same application in-process.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod clock_skew;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod crypto;
pub mod demo;
pub mod doctor;
pub mod egress;
pub mod failpoint;
pub mod field_rules;
pub mod health;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod metrics;
pub mod providers;
pub mod queries;
pub mod secret;
pub mod services;
pub mod sso;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tokens;
pub mod warehouse;
pub mod webhooks;
