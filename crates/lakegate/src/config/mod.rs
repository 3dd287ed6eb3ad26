//! One `Config`, loaded once from an optional TOML file with `LAKEGATE_*` overrides.
//! Every error names the key and says what was expected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::crypto::master_key::MasterKeySource;

mod egress;

pub use egress::EgressConfig;
use egress::{FileEgress, FileWebhooks, egress_config, webhook_policy};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("`{key}` is invalid: {expected}")]
    Invalid { key: &'static str, expected: String },
    #[error("`{key}` is required: {expected}")]
    Missing {
        key: &'static str,
        expected: &'static str,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The file form: every key optional, unknown keys refused so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    public_url: Option<String>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    #[serde(default)]
    previous_master_key_files: Vec<PathBuf>,
    log_format: Option<String>,
    log_level: Option<String>,
    session_idle_minutes: Option<i64>,
    session_absolute_minutes: Option<i64>,
    token_keepalive_hours: Option<i64>,
    reconsent_warning_hours: Option<i64>,
    token_vend_limit_per_minute: Option<i64>,
    #[serde(default)]
    egress: FileEgress,
    #[serde(default)]
    webhooks: FileWebhooks,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The webhook client's policy (`[webhooks]`): which private addresses and plain-http
    /// hosts receivers may have.
    pub webhooks: crate::egress::Policy,
    /// Base of every absolute URL the service emits; never taken from request headers.
    pub public_url: Option<Url>,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub master_key: MasterKeySource,
    /// The keyring setting: master keys still read (never written) during a rotation.
    pub previous_master_keys: Vec<MasterKeySource>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub session_idle_seconds: i64,
    pub session_absolute_seconds: i64,
    /// Refresh an idle credential's tokens after this long, so the refresh token never
    /// reaches its idle lifetime.
    pub token_keepalive_seconds: i64,
    /// Warn users this long before the absolute session lifetime forces a new sign-in.
    pub reconsent_warning_seconds: i64,
    /// Tokens one user may have vended per minute in each process; 0: no limit.
    pub token_vend_limit_per_minute: u32,
    pub egress: EgressConfig,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "data";

impl Config {
    /// Loads the file (if any) and applies `LAKEGATE_*` variables from `env` on top.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.message().to_owned(),
                })?
            }
            None => FileConfig::default(),
        };
        let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        if let Some(v) = var("LAKEGATE_PUBLIC_URL") {
            raw.public_url = Some(v);
        }
        if let Some(v) = var("LAKEGATE_LISTEN") {
            raw.listen = Some(v);
        }
        if let Some(v) = var("LAKEGATE_DATA_DIR") {
            raw.data_dir = Some(v.into());
        }
        if let Some(v) = var("LAKEGATE_DATABASE_URL") {
            raw.database_url = Some(v);
        }
        if let Some(v) = var("LAKEGATE_MASTER_KEY_FILE") {
            raw.master_key_file = Some(v.into());
        }
        if let Some(v) = var("LAKEGATE_LOG_FORMAT") {
            raw.log_format = Some(v);
        }
        if let Some(v) = var("LAKEGATE_LOG_LEVEL") {
            raw.log_level = Some(v);
        }
        let list = |k: &str| {
            var(k).map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        if let Some(v) = list("LAKEGATE_PREVIOUS_MASTER_KEY_FILES") {
            raw.previous_master_key_files = v.into_iter().map(PathBuf::from).collect();
        }
        if let Some(v) = list("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS") {
            raw.egress.extra_allowed_hosts = v;
        }
        if let Some(v) = list("LAKEGATE_WEBHOOKS_ALLOWED_CIDRS") {
            raw.webhooks.allowed_cidrs = v;
        }
        if let Some(v) = list("LAKEGATE_WEBHOOKS_INSECURE_HTTP_HOSTS") {
            raw.webhooks.insecure_http_hosts = v;
        }
        if let Some(v) = list("LAKEGATE_EGRESS_ALLOWED_CIDRS") {
            raw.egress.allowed_cidrs = v;
        }
        if let Some(v) = list("LAKEGATE_EGRESS_INSECURE_HTTP_HOSTS") {
            raw.egress.insecure_http_hosts = v;
        }
        if let Some(v) = var("LAKEGATE_EGRESS_GOOGLE_BASE_URL") {
            raw.egress.google_base_url = Some(v);
        }
        if let Some(v) = var("LAKEGATE_EGRESS_EXTRA_CA_FILE") {
            raw.egress.extra_ca_file = Some(v.into());
        }
        raw.session_idle_minutes =
            int_override(env, "LAKEGATE_SESSION_IDLE_MINUTES")?.or(raw.session_idle_minutes);
        raw.session_absolute_minutes = int_override(env, "LAKEGATE_SESSION_ABSOLUTE_MINUTES")?
            .or(raw.session_absolute_minutes);

        let public_url = raw
            .public_url
            .as_deref()
            .map(parse_public_url)
            .transpose()?;
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            expected: format!("an address and port such as 127.0.0.1:8080, got {listen_text:?}"),
        })?;
        let data_dir = raw.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let database_url = match raw.database_url {
            Some(url) => check_database_url(url)?,
            None => format!("sqlite://{}", data_dir.join("lakegate.db").display()),
        };
        let master_key = match var("LAKEGATE_MASTER_KEY") {
            Some(value) => MasterKeySource::Value(value.into()),
            None => MasterKeySource::File(
                raw.master_key_file
                    .unwrap_or_else(|| data_dir.join("master.key")),
            ),
        };
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "log_format",
                    expected: format!("\"text\" or \"json\", got {other:?}"),
                });
            }
        };
        let session_idle_seconds =
            positive_minutes("session_idle_minutes", raw.session_idle_minutes, 8 * 60)?;
        let session_absolute_seconds = positive_minutes(
            "session_absolute_minutes",
            raw.session_absolute_minutes,
            7 * 24 * 60,
        )?;
        let keepalive_hours = int_override(env, "LAKEGATE_TOKEN_KEEPALIVE_HOURS")?
            .or(raw.token_keepalive_hours)
            .unwrap_or(24);
        if !(1..=24 * 89).contains(&keepalive_hours) {
            return Err(ConfigError::Invalid {
                key: "token_keepalive_hours",
                expected: format!("hours between 1 and 2136, got {keepalive_hours}"),
            });
        }
        let warning_hours = int_override(env, "LAKEGATE_RECONSENT_WARNING_HOURS")?
            .or(raw.reconsent_warning_hours)
            .unwrap_or(72);
        if !(1..=24 * 90).contains(&warning_hours) {
            return Err(ConfigError::Invalid {
                key: "reconsent_warning_hours",
                expected: format!("hours between 1 and 2160, got {warning_hours}"),
            });
        }
        let vend_limit = int_override(env, "LAKEGATE_TOKEN_VEND_LIMIT_PER_MINUTE")?
            .or(raw.token_vend_limit_per_minute)
            .unwrap_or(i64::from(crate::http::state::DEFAULT_VEND_LIMIT_PER_MINUTE));
        let Ok(token_vend_limit_per_minute) = u32::try_from(vend_limit) else {
            return Err(ConfigError::Invalid {
                key: "token_vend_limit_per_minute",
                expected: format!(
                    "a whole number of tokens per minute, 0 for no limit, got {vend_limit}"
                ),
            });
        };
        let egress = egress_config(raw.egress)?;
        let webhooks = webhook_policy(raw.webhooks)?;
        Ok(Config {
            webhooks,
            token_vend_limit_per_minute,
            token_keepalive_seconds: keepalive_hours * 3600,
            reconsent_warning_seconds: warning_hours * 3600,
            egress,
            public_url,
            listen,
            data_dir,
            database_url,
            master_key,
            previous_master_keys: raw
                .previous_master_key_files
                .into_iter()
                .map(MasterKeySource::File)
                .collect(),
            log_format,
            log_level: raw.log_level.unwrap_or_else(|| "info".into()),
            session_idle_seconds,
            session_absolute_seconds,
        })
    }

    /// The public URL, which `serve` cannot run without.
    pub fn require_public_url(&self) -> Result<&Url, ConfigError> {
        self.public_url.as_ref().ok_or(ConfigError::Missing {
            key: "public_url",
            expected: "the URL users reach Lakegate at, e.g. https://lakegate.example.com \
                       (set it in the config file or LAKEGATE_PUBLIC_URL)",
        })
    }
}

fn int_override(
    env: &HashMap<String, String>,
    key: &'static str,
) -> Result<Option<i64>, ConfigError> {
    match env.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            key,
            expected: format!("a whole number, got {v:?}"),
        }),
    }
}

fn positive_minutes(
    key: &'static str,
    value: Option<i64>,
    default: i64,
) -> Result<i64, ConfigError> {
    match value.unwrap_or(default) {
        m if m > 0 && m <= 366 * 24 * 60 => Ok(m * 60),
        m => Err(ConfigError::Invalid {
            key,
            expected: format!("a number of minutes between 1 and 527040, got {m}"),
        }),
    }
}

fn parse_public_url(text: &str) -> Result<Url, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid {
        key: "public_url",
        expected: format!("{why}, got {text:?}"),
    };
    let url = Url::parse(text).map_err(|_| invalid("an absolute http:// or https:// URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("an absolute http:// or https:// URL"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a URL without a path, query or fragment (Lakegate serves from the root)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("a URL without user or password"));
    }
    Ok(url)
}

fn check_database_url(url: String) -> Result<String, ConfigError> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url)
    } else {
        Err(ConfigError::Invalid {
            key: "database_url",
            expected: "a sqlite:// path or a postgres:// URL".into(),
        })
    }
}

#[cfg(test)]
mod tests;
