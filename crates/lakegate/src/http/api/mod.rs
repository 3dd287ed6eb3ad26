//! JSON API handlers under `/api/v1`. Thin: parse, call the service, shape the answer.

pub mod audit;
mod audit_names;
mod catalog;
mod connect_sessions;
mod connection_bodies;
pub mod connections;
pub mod integration_hosts;
pub mod integrations;
mod me;
mod org;
pub mod queries;
pub mod query_views;
mod service_keys;
mod sso;
mod tokens;
mod users;
mod webhooks;

pub use tokens::TokenView;
pub use users::UserView;

use super::routes::Registry;

pub fn register(reg: &mut Registry) {
    me::register(reg);
    users::register(reg);
    tokens::register(reg);
    service_keys::register(reg);
    webhooks::register(reg);
    org::register(reg);
    sso::register(reg);
    connect_sessions::register(reg);
    audit::register(reg);
    integrations::register(reg);
    integration_hosts::register(reg);
    connections::register(reg);
    catalog::register(reg);
    queries::register(reg);
}
