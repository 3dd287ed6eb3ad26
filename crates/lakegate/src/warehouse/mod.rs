//! Talking to a Databricks workspace's REST API as a user: identity, warehouses, Unity
//! Catalog listings, and statements. Every call goes through the egress guard.

pub mod databricks;
pub mod statements;
pub mod values;
