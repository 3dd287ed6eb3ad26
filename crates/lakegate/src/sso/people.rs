//! Who an SSO sign-in signs in: the user tied to the provider's subject; else the org's
//! user with that (verified) email, tied to the subject now; else a new user with the
//! org's default role.

use super::id_token::Identity;
use super::service::{Refused, SsoService, refused};
use crate::accounts::service::NewUserInput;
use crate::accounts::{Role, User};
use crate::audit::Actor;
use crate::store::SsoRow;

impl SsoService {
    /// The person the provider named: by subject; else the org's user with that email,
    /// tied to the subject now; else a new user with the org's default role.
    pub(super) async fn person(&self, sso: &SsoRow, who: &Identity) -> Result<User, Refused> {
        const STORE: Refused = refused("store", "Lakegate could not sign you in. Try again.");
        const DISABLED: Refused = refused(
            "disabled",
            "Your account is disabled. Ask an administrator.",
        );
        let store = &self.store;
        let by_subject = store
            .user_by_sso_subject(&sso.org_id, &who.subject)
            .await
            .map_err(|_| STORE)?;
        let user = match by_subject {
            Some(u) => u,
            None => match store
                .user_by_email(&sso.org_id, &who.email)
                .await
                .map_err(|_| STORE)?
            {
                // An account already tied to another subject is someone else's.
                Some(u) => {
                    if !store
                        .link_sso_subject(&u.id, &who.subject)
                        .await
                        .map_err(|_| STORE)?
                    {
                        return Err(refused(
                            "subject_conflict",
                            "This email address belongs to another single sign-on account.",
                        ));
                    }
                    u
                }
                None => self.create(sso, who).await?,
            },
        };
        if user.disabled {
            return Err(DISABLED);
        }
        Ok(user)
    }

    async fn create(&self, sso: &SsoRow, who: &Identity) -> Result<User, Refused> {
        const STORE: Refused = refused(
            "store",
            "Lakegate could not create your account. Try again.",
        );
        let org = self
            .store
            .org_by_id(&sso.org_id)
            .await
            .ok()
            .flatten()
            .ok_or(STORE)?;
        let input = NewUserInput {
            email: who.email.clone(),
            display_name: who.name.clone(),
            role: Role::parse(&sso.default_role).unwrap_or(Role::Viewer),
            password: None,
            external_id: None,
        };
        let actor = Actor {
            org_id: Some(org.id.clone()),
            label: "sso".into(),
            client_ip: None,
            request_id: None,
        };
        let user = self
            .accounts
            .create_user(&actor, &org, input)
            .await
            .map_err(|_| STORE)?;
        self.store
            .link_sso_subject(&user.id, &who.subject)
            .await
            .map_err(|_| STORE)?;
        Ok(user)
    }
}
