//! Integrations an org admin configures: one per org and provider kind (the Databricks
//! OAuth U2M app of the seed first). Client ID, Client Secret (encrypted, write-only),
//! host — and, for Databricks, the other workspaces of the account (`hosts.rs`) — scopes,
//! and the endpoints the provider's setup check found.

mod hosts;
pub mod service;
pub mod verify;

pub use service::{IntegrationError, IntegrationService, SaveInput, TokenLifetimes};
