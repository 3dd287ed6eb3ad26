//! Keys, hashes and random values. Nothing else in the code base touches key material.

pub mod envelope;
pub mod master_key;
pub mod password;
pub mod random;
pub mod rotation;
