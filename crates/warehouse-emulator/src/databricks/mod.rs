//! The Databricks front-end: a workspace's URLs, JSON shapes and error words over the
//! shared engine — OAuth U2M (discovery, authorize page, token endpoint), the account API
//! for app connections, SCIM `Me`, SQL warehouses, Unity Catalog listings, the Statement
//! Execution API and its EXTERNAL_LINKS storage; service principals with OAuth M2M and
//! personal access tokens.

pub mod account;
pub mod arrow;
pub mod errors;
pub mod faults;
pub mod oauth;
pub mod principals;
pub mod rest;
pub mod statements;
pub mod storage;
pub mod warehouses;
