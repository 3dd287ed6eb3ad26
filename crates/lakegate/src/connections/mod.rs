//! Connections: configuration an owner creates (optionally shared with the org) and, per
//! user, a credential obtained by signing in to the warehouse. Nobody ever uses another
//! user's own sign-in — not the owner, not an admin. A shared identity (OAuth M2M, a
//! personal access token) is the exception by design, shown as such: one credential, kept
//! under the owner, that everyone who may use the connection runs as.

pub mod failure;
pub mod fallback;
pub mod flow;
mod grant;
mod patch;
pub mod return_url;
pub mod service;
pub mod shared;

use crate::accounts::Role;
use crate::auth::Principal;
use crate::store::ConnectionRow;

pub use crate::credentials::{
    ConnectionError, CredentialStatus, Deadlines, credential_binding, deadlines, status_of,
};

pub use fallback::RanAs;
pub use flow::SignInService;
pub use patch::Patch;
pub use service::{ConnectionService, CredentialView, TestReport};

/// What a caller wants to do with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// See it in lists and details.
    See,
    /// Sign in to it and use one's own credential on it.
    Use,
    /// Rename, share, configure or delete it.
    Manage,
}

/// Owners use and manage their connections; everyone uses shared ones; admins see and
/// manage every connection of their org but use only their own or shared ones.
pub fn allowed(p: &Principal, c: &ConnectionRow, purpose: Purpose) -> bool {
    let owner = c.owner_id == p.user.id;
    let admin = p.user.role == Role::Admin;
    let shared = c.shared;
    match purpose {
        Purpose::See => owner || shared || admin,
        Purpose::Use => owner || shared,
        Purpose::Manage => owner || admin,
    }
}
