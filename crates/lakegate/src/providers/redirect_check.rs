//! Whether Lakegate's redirect URL is registered with an OAuth client, asked without a
//! user: an authorize request with it is either sent on (the login page, or a redirect back
//! to it) or refused on the vendor's own error page, which names the redirect. Any other
//! answer proves nothing — a warning for the admin, never a refusal.

use super::{Info, oauth};
use crate::egress::{Egress, Request};

/// What the authorize endpoint said about a redirect URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectCheck {
    Registered,
    NotRegistered,
    /// The answer proved nothing (why, in a sentence).
    Inconclusive(String),
}

/// A PKCE challenge for the probe: it is never redeemed.
const PROBE_VERIFIER: &str = "lakegate-redirect-check-lakegate-redirect-check-0123456789";

/// What an authorize endpoint's answer means. Pure.
pub fn classify(status: u16, body: &[u8], refused_marker: &str) -> RedirectCheck {
    match status {
        // Sent on: the login page, or back to the redirect URL itself.
        200..=399 => RedirectCheck::Registered,
        400 | 401 if contains(body, refused_marker) => RedirectCheck::NotRegistered,
        s => RedirectCheck::Inconclusive(format!(
            "the authorize endpoint answered {s} without saying why"
        )),
    }
}

fn contains(body: &[u8], marker: &str) -> bool {
    !marker.is_empty() && String::from_utf8_lossy(body).contains(marker)
}

/// Asks `authorization_endpoint` whether `redirect_url` is registered for `client_id`.
pub async fn probe(
    egress: &Egress,
    info: &Info,
    authorization_endpoint: &str,
    client_id: &str,
    scopes: &str,
    redirect_url: &str,
) -> RedirectCheck {
    let Some(url) = oauth::authorize_url(
        &info.dialect,
        authorization_endpoint,
        client_id,
        redirect_url,
        scopes,
        "lakegate-redirect-check",
        &oauth::challenge(PROBE_VERIFIER),
    ) else {
        return RedirectCheck::Inconclusive("the authorization endpoint is not a URL".into());
    };
    match egress.send(Request::get(&url)).await {
        Ok(r) => classify(r.status, &r.body, info.redirect_refused),
        Err(e) => {
            RedirectCheck::Inconclusive(format!("the authorize endpoint did not answer: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_vendors_own_refusal_is_a_refusal() {
        let marker = "redirect_uri_mismatch";
        assert_eq!(classify(200, b"<form>", marker), RedirectCheck::Registered);
        assert_eq!(classify(302, b"", marker), RedirectCheck::Registered);
        assert_eq!(
            classify(400, b"Error 400: redirect_uri_mismatch", marker),
            RedirectCheck::NotRegistered
        );
        // Another 400, a gateway's 502, a refusal without the marker: nothing proven.
        for (status, body) in [
            (400, &b"invalid_scope"[..]),
            (502, b"redirect_uri_mismatch"),
            (403, b""),
        ] {
            assert!(matches!(
                classify(status, body, marker),
                RedirectCheck::Inconclusive(_)
            ));
        }
        assert!(matches!(
            classify(400, b"anything", ""),
            RedirectCheck::Inconclusive(_)
        ));
    }
}
