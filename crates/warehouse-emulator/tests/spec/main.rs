//! The emulator's specification: one test per behaviour of Databricks it reproduces
//! (`shared/design/databricks-facts.md`) and per feature of its issue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod account;
mod arrow;
mod bigquery;
mod binary;
mod control;
mod google;
mod google_oauth;
mod m2m_pat;
mod oauth;
mod rest;
mod snowflake_oauth;
mod snowflake_sql;
mod statements;
mod tls;
mod workspaces;
