//! The `[egress]` section of the configuration: read from the file and environment, and
//! validated into the guarded client's policy.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::egress::{HostPort, Policy};

/// The `[egress]` section: what the guarded outbound client may reach besides Databricks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEgress {
    #[serde(default)]
    pub(super) extra_allowed_hosts: Vec<String>,
    #[serde(default)]
    pub(super) allowed_cidrs: Vec<String>,
    pub(super) extra_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) insecure_http_hosts: Vec<String>,
    pub(super) google_base_url: Option<String>,
}

/// Validated egress settings.
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    pub policy: Policy,
    pub extra_ca_file: Option<PathBuf>,
}

/// The `[webhooks]` section: which private addresses and plain-http hosts webhook receivers
/// may have (by default none: public addresses over https only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWebhooks {
    #[serde(default)]
    pub(super) allowed_cidrs: Vec<String>,
    #[serde(default)]
    pub(super) insecure_http_hosts: Vec<String>,
}

fn hosts(key: &'static str, list: &[String]) -> Result<Vec<HostPort>, ConfigError> {
    list.iter()
        .map(|h| {
            HostPort::parse(h).map_err(|e| ConfigError::Invalid {
                key,
                expected: format!("entries like host or host:port; {e}"),
            })
        })
        .collect()
}

fn cidrs(key: &'static str, list: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.iter()
        .map(|c| {
            c.parse::<ipnet::IpNet>().map_err(|_| ConfigError::Invalid {
                key,
                expected: format!("CIDR blocks such as 127.0.0.0/8, got {c:?}"),
            })
        })
        .collect()
}

pub(super) fn egress_config(raw: FileEgress) -> Result<EgressConfig, ConfigError> {
    let google_base_url = raw
        .google_base_url
        .as_deref()
        .map(google_base_url)
        .transpose()?;
    Ok(EgressConfig {
        policy: Policy {
            extra_allowed_hosts: hosts("egress.extra_allowed_hosts", &raw.extra_allowed_hosts)?,
            allowed_cidrs: cidrs("egress.allowed_cidrs", &raw.allowed_cidrs)?,
            insecure_http_hosts: hosts("egress.insecure_http_hosts", &raw.insecure_http_hosts)?,
            google_base_url,
        },
        extra_ca_file: raw.extra_ca_file,
    })
}

/// The webhook client's policy: any host, addresses as `[webhooks]` allows.
pub(super) fn webhook_policy(raw: FileWebhooks) -> Result<Policy, ConfigError> {
    Ok(Policy {
        allowed_cidrs: cidrs("webhooks.allowed_cidrs", &raw.allowed_cidrs)?,
        insecure_http_hosts: hosts("webhooks.insecure_http_hosts", &raw.insecure_http_hosts)?,
        ..Policy::default()
    })
}

/// A base URL for Google's endpoints: scheme, host and port only.
fn google_base_url(v: &str) -> Result<url::Url, ConfigError> {
    let invalid = || ConfigError::Invalid {
        key: "egress.google_base_url",
        expected: format!(
            "an http(s) URL with a host and no path, such as https://127.0.0.1:8443, got {v:?}"
        ),
    };
    let u = url::Url::parse(v).map_err(|_| invalid())?;
    let plain = matches!(u.scheme(), "https" | "http")
        && u.host_str().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    if plain { Ok(u) } else { Err(invalid()) }
}
