//! The access policy each route declares, and the check that enforces it.

use crate::accounts::{Org, Role, User};
use crate::auth::Scope;

/// Who may call a route. Declared once, next to the route, and enforced by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user. API tokens must carry the scope, when one is named.
    User(Option<Scope>),
    /// Admins of the org. API tokens must carry the `admin` scope.
    Admin,
    /// The org itself, as a platform's backend: a service key with this scope acting as
    /// itself (no `Lakegate-User`), or an admin (API tokens: `admin` or this scope).
    Platform(Scope),
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session; state-changing requests must echo its CSRF token.
    Session { id_hash: String, csrf_token: String },
    /// A personal API token with its scopes.
    Token { id: String, scopes: Vec<Scope> },
    /// A service key acting for the user named in `Lakegate-User`, with its scopes.
    Service {
        id: String,
        name: String,
        scopes: Vec<Scope>,
    },
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub org: Org,
    pub via: Via,
}

impl Principal {
    /// True when the caller's role, and for tokens the token's scopes, allow `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.user.role >= scope.min_role()
            && match &self.via {
                Via::Session { .. } => true,
                Via::Token { scopes, .. } | Via::Service { scopes, .. } => scopes.contains(&scope),
            }
    }

    /// The audit label of the caller.
    pub fn actor_label(&self) -> String {
        match &self.via {
            Via::Session { .. } => format!("user:{}", self.user.id),
            Via::Token { id, .. } => format!("user:{} token:{id}", self.user.id),
            Via::Service { name, .. } => format!("service:{name} for user:{}", self.user.id),
        }
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated,
    Forbidden(String),
}

impl Access {
    pub fn check(self, who: Option<&Principal>) -> Result<(), Denied> {
        let p = match (self, who) {
            (Access::Public, _) => return Ok(()),
            (_, None) => return Err(Denied::Unauthenticated),
            (_, Some(p)) => p,
        };
        let service = matches!(p.via, Via::Service { .. });
        match self {
            // A service key acts for a user only where a route names a scope it holds: never
            // on their account (tokens, profile) and never as an admin.
            Access::User(None) | Access::Admin if service => Err(Denied::Forbidden(
                "service keys may only call routes that need one of their scopes".into(),
            )),
            Access::Public | Access::User(None) => Ok(()),
            Access::User(Some(scope)) if p.may(scope) => Ok(()),
            Access::User(Some(scope)) => Err(Denied::Forbidden(format!(
                "this needs the {} permission, which your role or API token does not have",
                scope.as_str()
            ))),
            Access::Admin if p.user.role == Role::Admin && p.may(Scope::Admin) => Ok(()),
            Access::Admin => Err(Denied::Forbidden(
                "only organization admins may do this".into(),
            )),
            Access::Platform(scope)
                if !service
                    && p.user.role == Role::Admin
                    && (p.may(Scope::Admin) || p.may(scope)) =>
            {
                Ok(())
            }
            Access::Platform(scope) => Err(Denied::Forbidden(format!(
                "this needs an admin, or a service key with the {} scope",
                scope.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, via: Via) -> Principal {
        Principal {
            user: User {
                id: "u".into(),
                org_id: "o".into(),
                email: "a@b.c".into(),
                display_name: "a".into(),
                role,
                disabled: false,
                created_at: 0,
                external_id: None,
            },
            org: Org {
                id: "o".into(),
                slug: "o".into(),
                name: "O".into(),
                created_at: 0,
            },
            via,
        }
    }

    fn session() -> Via {
        Via::Session {
            id_hash: "h".into(),
            csrf_token: "c".into(),
        }
    }

    #[test]
    fn anonymous_is_refused_everywhere_but_public() {
        assert_eq!(Access::Public.check(None), Ok(()));
        assert_eq!(Access::User(None).check(None), Err(Denied::Unauthenticated));
        assert_eq!(Access::Admin.check(None), Err(Denied::Unauthenticated));
    }

    #[test]
    fn admin_routes_need_the_admin_role_and_token_scope() {
        assert!(
            Access::Admin
                .check(Some(&principal(Role::Admin, session())))
                .is_ok()
        );
        assert!(
            Access::Admin
                .check(Some(&principal(Role::Editor, session())))
                .is_err()
        );
        let scoped = Via::Token {
            id: "t".into(),
            scopes: vec![Scope::Admin],
        };
        assert!(
            Access::Admin
                .check(Some(&principal(Role::Admin, scoped.clone())))
                .is_ok()
        );
        // A demoted admin's old admin token stops working.
        assert!(
            Access::Admin
                .check(Some(&principal(Role::Editor, scoped)))
                .is_err()
        );
        let unscoped = Via::Token {
            id: "t".into(),
            scopes: vec![Scope::QueriesRun],
        };
        assert!(
            Access::Admin
                .check(Some(&principal(Role::Admin, unscoped)))
                .is_err()
        );
    }

    #[test]
    fn scoped_user_routes_check_role_and_scope() {
        let run = Access::User(Some(Scope::QueriesRun));
        assert!(run.check(Some(&principal(Role::Editor, session()))).is_ok());
        assert!(
            run.check(Some(&principal(Role::Viewer, session())))
                .is_err()
        );
        let read_only = Via::Token {
            id: "t".into(),
            scopes: vec![Scope::ConnectionsRead],
        };
        assert!(run.check(Some(&principal(Role::Admin, read_only))).is_err());
    }
}
