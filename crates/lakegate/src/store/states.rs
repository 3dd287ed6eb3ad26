//! The stored states and outcomes, as enums: the store converts them to and from their
//! column text here and nowhere else.

/// Text the store found in a state column that no enum variant has.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored value {0:?}")]
pub struct UnknownValue(pub String);

/// An enum stored as text: `as_str` for binding, `TryFrom<String>` for `#[sqlx(try_from)]`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(text: String) -> Result<Self, UnknownValue> {
                $name::parse(&text).ok_or(UnknownValue(text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// The API documents these values as a string enum.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "enum": [$($text),+]})
            }
        }
    };
}

stored_enum! {
    /// A stored credential's state.
    CredentialState {
        Active = "active",
        /// The provider refused the refresh token: the user must sign in again.
        ReauthRequired = "reauth_required",
        Revoked = "revoked",
    }
}

stored_enum! {
    /// An integration's state.
    IntegrationStatus {
        Configured = "configured",
        /// The provider refused the client credentials: an admin must update the secret.
        ClientRejected = "client_rejected",
    }
}

stored_enum! {
    /// A query's state: the warehouse's states, and Lakegate's own two endings.
    QueryState {
        Pending = "PENDING",
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Canceled = "CANCELED",
        Closed = "CLOSED",
        /// Ran past its time limit; Lakegate cancelled it upstream.
        TimedOut = "TIMED_OUT",
        /// Could not be followed up (no usable credential) and passed its time limit.
        Abandoned = "ABANDONED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_survives_the_round_trip_through_its_text() {
        for s in CredentialState::ALL {
            assert_eq!(
                CredentialState::try_from(s.as_str().to_owned()).unwrap(),
                *s
            );
        }
        for s in IntegrationStatus::ALL {
            assert_eq!(IntegrationStatus::parse(s.as_str()), Some(*s));
        }
        for s in QueryState::ALL {
            assert_eq!(QueryState::parse(s.as_str()), Some(*s));
        }
        assert!(QueryState::try_from("DONE".to_owned()).is_err());
    }
}
