//! Named failpoints for crash-consistency tests: a test arms one, the code path that
//! passes it behaves as if the process died there. Nothing arms them in production.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Failpoints {
    armed: Mutex<HashSet<&'static str>>,
}

impl Failpoints {
    /// Arms `name` for one hit.
    pub fn arm(&self, name: &'static str) {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name);
    }

    /// True (once) when `name` is armed.
    pub fn hit(&self, name: &'static str) -> bool {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }
}
