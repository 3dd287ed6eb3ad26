//! A change to a connection's settings, as the API and the pages send it.

/// Changes to a connection; `None` keeps a field.
#[derive(Debug, Default)]
pub struct Patch {
    pub name: Option<String>,
    pub warehouse_id: Option<String>,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    /// The session role (providers with roles only); blank clears it.
    pub role: Option<String>,
    /// Where queries are processed (providers with locations only); blank clears it.
    pub location: Option<String>,
    pub shared: Option<bool>,
    /// Whether a shared identity's tokens may be vended (administrators only).
    pub token_vending: Option<bool>,
    /// The M2M connection `allow_fallback` requests may run as; blank clears it.
    pub fallback_connection_id: Option<String>,
}

impl Patch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        let Patch {
            name,
            warehouse_id,
            catalog,
            schema,
            role,
            location,
            shared,
            token_vending,
            fallback_connection_id,
        } = self;
        [
            name,
            warehouse_id,
            catalog,
            schema,
            role,
            location,
            fallback_connection_id,
        ]
        .iter()
        .all(|f| f.is_none())
            && shared.is_none()
            && token_vending.is_none()
    }
}
