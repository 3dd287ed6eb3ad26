//! What to do with a token endpoint's answer to a refresh: a pure function of the answer,
//! the provider's dialect and the credential's failure history, so every branch is a unit
//! test and the protocol around it only carries the decision out.

use crate::providers::oauth::{Dialect, ErrorClass, TokenError, Tokens};

/// The decision for one refresh answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store the new access token; `rotated`: a new refresh token came with it (else the
    /// old one is kept, when the dialect allows a refresh to omit it).
    Store { rotated: bool },
    /// The grant is dead: the user must sign in again, for this reason.
    SignInAgain { reason: String },
    /// The provider refused the integration's client credentials: flag the integration
    /// for the admin and leave users' credentials alone.
    ClientRejected,
    /// A transient failure: try again after this many seconds, serving the current token
    /// meanwhile.
    BackOff { seconds: i64 },
}

/// The decision and the labels `/metrics` counts it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub outcome: &'static str,
    pub reason: String,
}

/// Backoff for the n-th consecutive transient failure: 30 s doubling to 30 min, scaled by
/// `jitter` (0.8–1.2 in production), never sooner than the server's `Retry-After`.
pub fn backoff_seconds(failures: i64, retry_after: Option<i64>, jitter: f64) -> i64 {
    let base = 30i64.saturating_mul(1 << failures.clamp(0, 6)).min(1800);
    let delay = (base as f64 * jitter) as i64;
    retry_after.map_or(delay, |r| delay.max(r))
}

/// Decides what a refresh answer means. `vendor` names the provider in reasons users read.
pub fn decide(
    dialect: &Dialect,
    vendor: &str,
    answer: &Result<Tokens, TokenError>,
    failures: i64,
    jitter: f64,
) -> Verdict {
    let back_off = |retry_after: Option<i64>, reason: String| Verdict {
        decision: Decision::BackOff {
            seconds: backoff_seconds(failures, retry_after, jitter),
        },
        outcome: "transient",
        reason,
    };
    match answer {
        Ok(tokens) if tokens.refresh_token.is_none() && !dialect.refresh_may_omit_refresh_token => {
            back_off(None, "no_refresh_token".into())
        }
        Ok(tokens) => {
            let rotated = tokens.refresh_token.is_some();
            Verdict {
                decision: Decision::Store { rotated },
                outcome: "success",
                reason: if rotated {
                    "rotated"
                } else {
                    "kept_refresh_token"
                }
                .into(),
            }
        }
        Err(TokenError::Rejected {
            code,
            description,
            retry_after,
        }) => match dialect.classify(code) {
            ErrorClass::DeadGrant => Verdict {
                decision: Decision::SignInAgain {
                    reason: if description.is_empty() {
                        format!("{vendor} refused the refresh token")
                    } else {
                        format!("{vendor}: {description}")
                    },
                },
                outcome: "reauth",
                reason: code.clone(),
            },
            ErrorClass::ClientRejected => Verdict {
                decision: Decision::ClientRejected,
                outcome: "client_rejected",
                reason: code.clone(),
            },
            ErrorClass::Transient => back_off(*retry_after, code.clone()),
        },
        Err(TokenError::Invalid(_) | TokenError::NoRefreshToken) => {
            back_off(None, "invalid_response".into())
        }
        Err(TokenError::Transport(_)) => back_off(None, "transport".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::databricks::DIALECT;
    use crate::secret::Secret;

    fn tokens(refresh: Option<&str>) -> Result<Tokens, TokenError> {
        Ok(Tokens {
            access_token: Secret::new("a"),
            refresh_token: refresh.map(Secret::new),
            expires_in: 3600,
            scope: None,
            id_token: None,
        })
    }

    fn rejected(
        code: &str,
        description: &str,
        retry_after: Option<i64>,
    ) -> Result<Tokens, TokenError> {
        Err(TokenError::Rejected {
            code: code.into(),
            description: description.into(),
            retry_after,
        })
    }

    fn decision(answer: &Result<Tokens, TokenError>, failures: i64) -> Decision {
        decide(&DIALECT, "Databricks", answer, failures, 1.0).decision
    }

    #[test]
    fn new_tokens_are_stored_rotated_or_not() {
        assert_eq!(
            decision(&tokens(Some("r2")), 0),
            Decision::Store { rotated: true }
        );
        assert_eq!(
            decision(&tokens(None), 0),
            Decision::Store { rotated: false }
        );
        let v = decide(&DIALECT, "Databricks", &tokens(None), 0, 1.0);
        assert_eq!(
            (v.outcome, v.reason.as_str()),
            ("success", "kept_refresh_token")
        );
    }

    #[test]
    fn a_dialect_that_always_rotates_backs_off_when_the_refresh_token_is_missing() {
        let strict = Dialect {
            refresh_may_omit_refresh_token: false,
            ..DIALECT
        };
        let v = decide(&strict, "X", &tokens(None), 0, 1.0);
        assert_eq!(v.decision, Decision::BackOff { seconds: 30 });
    }

    #[test]
    fn a_dead_grant_asks_for_a_new_sign_in_with_the_vendors_words() {
        assert_eq!(
            decision(&rejected("invalid_grant", "Refresh token expired", None), 0),
            Decision::SignInAgain {
                reason: "Databricks: Refresh token expired".into()
            }
        );
        assert_eq!(
            decision(&rejected("invalid_request", "", None), 3),
            Decision::SignInAgain {
                reason: "Databricks refused the refresh token".into()
            }
        );
    }

    #[test]
    fn a_rejected_client_is_the_admins_problem() {
        assert_eq!(
            decision(&rejected("invalid_client", "bad", None), 0),
            Decision::ClientRejected
        );
        assert_eq!(
            decision(&rejected("unauthorized_client", "", None), 0),
            Decision::ClientRejected
        );
    }

    #[test]
    fn transient_failures_back_off_exponentially_and_honour_retry_after() {
        let busy = rejected("temporarily_unavailable", "", None);
        assert_eq!(decision(&busy, 0), Decision::BackOff { seconds: 30 });
        assert_eq!(decision(&busy, 2), Decision::BackOff { seconds: 120 });
        assert_eq!(decision(&busy, 40), Decision::BackOff { seconds: 1800 });
        let later = rejected("server_error", "", Some(4000));
        assert_eq!(decision(&later, 0), Decision::BackOff { seconds: 4000 });
        assert_eq!(
            decision(&Err(TokenError::Transport("reset".into())), 1),
            Decision::BackOff { seconds: 60 }
        );
        assert_eq!(
            decision(&Err(TokenError::Invalid("not JSON")), 0),
            Decision::BackOff { seconds: 30 }
        );
    }

    #[test]
    fn jitter_scales_the_delay() {
        assert_eq!(backoff_seconds(0, None, 0.8), 24);
        assert_eq!(backoff_seconds(0, None, 1.2), 36);
        assert_eq!(backoff_seconds(0, Some(100), 1.2), 100);
    }
}
