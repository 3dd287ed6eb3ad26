//! Who is calling and what they may do: sessions, API tokens, scopes, the login limiter,
//! and the access policy every route declares.

pub mod api_token;
pub mod bearer;
pub mod limits;
pub mod login;
pub mod policy;
pub mod scope;
pub mod service_key;
pub mod session;

pub use policy::{Access, Denied, Principal, Via};
pub use scope::Scope;
