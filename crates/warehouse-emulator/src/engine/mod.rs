//! What every vendor front-end shares: the SQL engine and sample data, the OAuth
//! authorization-server core, the clock, token signing, TLS, and faults. Nothing here
//! knows a vendor's URLs, JSON shapes or error words.

pub mod authz;
pub mod clock;
pub mod faults;
pub mod html;
pub mod inject;
pub mod jwt;
pub mod sql;
pub mod tls;
pub mod token_call;
