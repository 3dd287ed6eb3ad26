//! The Snowflake front-end: an account's OAuth with custom security integrations —
//! `/oauth/authorize` with Snowflake's checks and error codes, login and a consent page
//! naming the role, `/oauth/token-request` with Basic client authentication and Snowflake's
//! error bodies — over the shared engine. Facts: `shared/design/reference/
//! snowflake-bigquery-research.md`, part A.

mod faults;
pub mod integration;
pub mod oauth;
mod pages;
pub mod results;
pub mod show;
pub mod sql_api;
