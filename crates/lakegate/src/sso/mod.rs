//! Single sign-on for people: an org's OpenID Connect provider signs its people in to
//! Lakegate's pages (authorization code + PKCE, nonce, ID token checked against the
//! provider's keys). Users are matched by the provider's subject.

pub mod discovery;
pub mod id_token;
mod people;
pub mod service;

pub use service::{SsoError, SsoInput, SsoService};
