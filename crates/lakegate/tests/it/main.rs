//! Lakegate's integration tests: one binary (each `tests/*.rs` would be another link).

// Test code may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alloc_meter;
mod arrow_results;
mod harness;
mod idp;
mod test_db;

mod accounts_http;
mod activity;
mod backup;
mod bad_input;
mod bigquery_canary;
mod bigquery_connect;
mod bigquery_queries;
mod bigquery_setup;
mod bigquery_tokens;
mod canary;
mod cli;
mod clock_skew;
mod connect_sessions;
mod connections;
mod csrf;
mod doctor;
mod egress;
mod flow_security;
mod health;
mod home;
mod hot_cache;
mod integrations;
mod key_rotation;
mod operations;
mod processes;
mod properties;
mod queries;
mod query_history;
mod query_results;
mod refresh;
mod route_matrix;
mod service_keys;
mod sessions;
mod settings;
mod setup_checks;
mod shared_identities;
mod snowflake_api;
mod snowflake_callback;
mod snowflake_connect;
mod snowflake_faults;
mod snowflake_refresh;
mod snowflake_setup;
mod sso;
mod store_contract;
mod store_refresh_contract;
mod storm;
mod webhook_events;
mod webhook_processes;
mod webhook_receiver;
mod webhooks;
mod workspaces;
mod world;
