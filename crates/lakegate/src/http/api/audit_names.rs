//! Names for the ids in the audit log: a user's email for `user:<id>` in actor labels and
//! targets, a connection's name, an integration's title. Ids stay in the log (and in the
//! export); names are for reading.

use std::collections::HashMap;

use crate::http::state::AppState;
use crate::providers;
use crate::store::StoreResult;

/// Every name an org's log may need, read once per page.
#[derive(Default)]
pub struct Names {
    by_id: HashMap<String, String>,
}

impl Names {
    pub async fn of_org(state: &AppState, org_id: &str) -> StoreResult<Names> {
        let mut by_id = HashMap::new();
        for u in state.store.list_users(org_id).await? {
            by_id.insert(u.id, u.email);
        }
        for c in state.store.org_connections(org_id).await? {
            by_id.insert(c.id, c.name);
        }
        for p in providers::ALL {
            if let Ok(Some(i)) = state.services.integrations.get(*p, org_id).await {
                by_id.insert(i.id, p.info().title.to_owned());
            }
        }
        Ok(Names { by_id })
    }

    /// An actor label with each `user:<id>` replaced by that user's email
    /// (`service:crm for user:<id>` → `service:crm for ed@acme.test`); `None` when nothing
    /// in it has a name.
    pub fn actor(&self, label: &str) -> Option<String> {
        let mut named = false;
        let words: Vec<String> = label
            .split(' ')
            .map(
                |w| match w.strip_prefix("user:").and_then(|id| self.by_id.get(id)) {
                    Some(email) => {
                        named = true;
                        email.clone()
                    }
                    None => w.to_owned(),
                },
            )
            .collect();
        named.then(|| words.join(" "))
    }

    /// A target id's name (a user, a connection, an integration), if it has one.
    pub fn target(&self, id: &str) -> Option<String> {
        self.by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_in_actor_labels_become_emails() {
        let names = Names {
            by_id: HashMap::from([("u1".to_owned(), "ed@acme.test".to_owned())]),
        };
        assert_eq!(names.actor("user:u1").as_deref(), Some("ed@acme.test"));
        assert_eq!(
            names.actor("user:u1 token:t9").as_deref(),
            Some("ed@acme.test token:t9")
        );
        assert_eq!(
            names.actor("service:crm for user:u1").as_deref(),
            Some("service:crm for ed@acme.test")
        );
        assert_eq!(names.actor("cli"), None);
        assert_eq!(names.actor("user:gone"), None);
        assert_eq!(names.target("u1").as_deref(), Some("ed@acme.test"));
    }
}
