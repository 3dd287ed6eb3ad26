//! Connections: configuration an owner creates (optionally shared with the org) and, per
//! user, a credential obtained by signing in to Databricks. Nobody ever uses another
//! user's credential.

pub mod oauth;
