//! A stored integration checked again, as saving checked it: its host answers discovery
//! through the egress policy (DNS, TLS), the token endpoint accepts its client, Lakegate's
//! redirect URL is registered with the client, and the vendor's clock (its `Date` header)
//! is close to ours. For `lakegate doctor`.

use super::service::{IntegrationError, IntegrationService, client_secret};
use crate::egress;
use crate::providers::{self, oauth::Client};
use crate::store::IntegrationRow;

/// How far the vendor's clock may be from ours: Lakegate renews access tokens five minutes
/// before they expire by its own clock, and a minute of difference still leaves most of
/// that margin.
pub const MAX_VENDOR_SKEW_SECONDS: i64 = 60;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// Worth a look, but not known to be broken (a check that proved nothing).
    Warn(String),
    Fail(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
}

fn check(name: &'static str, outcome: Outcome) -> Check {
    Check { name, outcome }
}

impl IntegrationService {
    /// Every check of `row`, in order; a failing step ends the list (later ones need it).
    pub async fn verify(&self, row: &IntegrationRow) -> Vec<Check> {
        let mut out = Vec::new();
        let Some(provider) = providers::by_kind(&row.kind) else {
            out.push(check(
                "kind",
                Outcome::Fail(format!("unknown kind {}", row.kind)),
            ));
            return out;
        };
        let host = match provider.parse_host(&row.host, self.egress().policy()) {
            Ok(h) => h,
            Err(why) => {
                out.push(check("host", Outcome::Fail(why)));
                return out;
            }
        };
        let endpoints = match provider.discover(self.egress(), &host).await {
            Ok(e) => e,
            Err(e) => {
                out.push(check("discovery", Outcome::Fail(e.to_string())));
                return out;
            }
        };
        out.push(check(
            "discovery",
            Outcome::Ok(format!(
                "{} answers over TLS with its OAuth metadata",
                row.host
            )),
        ));
        let client = match client_secret(self.store(), self.keyring(), row).await {
            Ok(secret) => {
                let client = Client {
                    id: &row.client_id,
                    secret: &secret,
                };
                match provider
                    .check_client(self.egress(), &endpoints, &client)
                    .await
                {
                    Ok(()) => Outcome::Ok("the token endpoint accepts the client".into()),
                    Err(e) => Outcome::Fail(e.to_string()),
                }
            }
            Err(e) => Outcome::Fail(format!("the client secret cannot be read: {e}")),
        };
        out.push(check("client", client));
        let redirect = self
            .check_redirect(
                provider,
                &endpoints.authorization_endpoint,
                &row.client_id,
                &row.scopes,
            )
            .await;
        out.push(check(
            "redirect URL",
            match redirect {
                Ok(None) => Outcome::Ok("registered with the client".into()),
                Ok(Some(warning)) => Outcome::Warn(warning),
                Err(IntegrationError::RedirectNotRegistered { url, .. }) => {
                    Outcome::Fail(format!("{url} is not registered with the client"))
                }
                Err(e) => Outcome::Fail(e.to_string()),
            },
        ));
        out.push(check(
            "clock",
            self.vendor_clock(&endpoints.token_endpoint).await,
        ));
        out
    }

    /// Compares the `Date` header of the vendor's token endpoint with our clock.
    async fn vendor_clock(&self, token_endpoint: &str) -> Outcome {
        let Ok(url) = url::Url::parse(token_endpoint) else {
            return Outcome::Fail("the token endpoint is not a URL".into());
        };
        let resp = match self.egress().send(egress::Request::get(&url)).await {
            Ok(r) => r,
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        let date = resp
            .headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let Some(theirs) = date else {
            return Outcome::Warn("the vendor sent no Date header to compare clocks with".into());
        };
        let skew = theirs.as_secs() as i64 - self.now();
        if skew.abs() > MAX_VENDOR_SKEW_SECONDS {
            Outcome::Fail(format!(
                "this server's clock is {} s {} the vendor's (at most {MAX_VENDOR_SKEW_SECONDS} s is tolerated): fix its time synchronisation",
                skew.abs(),
                if skew > 0 { "behind" } else { "ahead of" }
            ))
        } else {
            Outcome::Ok(format!("within {} s of the vendor's", skew.abs()))
        }
    }
}
