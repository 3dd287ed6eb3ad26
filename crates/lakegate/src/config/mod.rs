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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_put_the_sqlite_store_and_key_in_the_data_dir() {
        let c = Config::load(None, &env(&[("LAKEGATE_DATA_DIR", "/srv/lg")])).unwrap();
        assert_eq!(c.database_url, "sqlite:///srv/lg/lakegate.db");
        assert!(
            matches!(c.master_key, MasterKeySource::File(ref p) if p == Path::new("/srv/lg/master.key"))
        );
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.require_public_url().is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakegate.toml");
        std::fs::write(
            &path,
            "public_url = \"https://a.example\"\nlisten = \"0.0.0.0:9000\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            &env(&[("LAKEGATE_PUBLIC_URL", "https://b.example")]),
        )
        .unwrap();
        assert_eq!(c.public_url.unwrap().as_str(), "https://b.example/");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("LAKEGATE_PUBLIC_URL", "ftp://x", "public_url"),
            ("LAKEGATE_PUBLIC_URL", "https://x/app", "public_url"),
            ("LAKEGATE_LISTEN", "nowhere", "listen"),
            ("LAKEGATE_DATABASE_URL", "mysql://x", "database_url"),
            ("LAKEGATE_LOG_FORMAT", "xml", "log_format"),
            ("LAKEGATE_SESSION_IDLE_MINUTES", "0", "session_idle_minutes"),
        ];
        for (k, v, key) in cases {
            let err = Config::load(None, &env(&[(k, v)])).unwrap_err().to_string();
            assert!(err.contains(key), "{k}={v}: {err}");
        }
    }

    #[test]
    fn the_egress_section_reads_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[egress]\nextra_allowed_hosts = [\"dbc.privatelink.example\", \"localhost:8081\"]\nallowed_cidrs = [\"10.1.0.0/16\"]\n").unwrap();
        let c = Config::load(
            Some(&path),
            &env(&[("LAKEGATE_EGRESS_INSECURE_HTTP_HOSTS", "localhost:8081")]),
        )
        .unwrap();
        assert_eq!(c.egress.policy.extra_allowed_hosts.len(), 2);
        assert!(c.egress.policy.plain_http_allowed("localhost", Some(8081)));
        assert!(c.egress.policy.address_allowed("10.1.2.3".parse().unwrap()));
        let err = Config::load(
            None,
            &env(&[("LAKEGATE_EGRESS_ALLOWED_CIDRS", "10.0.0.0/99")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("egress.allowed_cidrs"), "{err}");
        let err = Config::load(
            None,
            &env(&[("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS", "a:b")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("egress.extra_allowed_hosts"), "{err}");
    }

    #[test]
    fn the_webhooks_section_and_the_keyring_setting_read_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "previous_master_key_files = [\"/k/old.key\"]\n[webhooks]\nallowed_cidrs = [\"10.30.0.0/16\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), &env(&[])).unwrap();
        assert!(
            matches!(&c.previous_master_keys[..], [MasterKeySource::File(p)] if p == Path::new("/k/old.key"))
        );
        assert!(c.webhooks.address_allowed("10.30.0.9".parse().unwrap()));
        assert!(!c.webhooks.address_allowed("127.0.0.1".parse().unwrap()));
        // The warehouse policy is another: it allows nothing of the receivers'.
        assert!(
            !c.egress
                .policy
                .address_allowed("10.30.0.9".parse().unwrap())
        );
        let c = Config::load(
            Some(&path),
            &env(&[
                ("LAKEGATE_PREVIOUS_MASTER_KEY_FILES", "/k/a.key,/k/b.key"),
                ("LAKEGATE_WEBHOOKS_INSECURE_HTTP_HOSTS", "127.0.0.1:9000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.previous_master_keys.len(), 2);
        assert!(c.webhooks.plain_http_allowed("127.0.0.1", Some(9000)));
        let err = Config::load(None, &env(&[("LAKEGATE_WEBHOOKS_ALLOWED_CIDRS", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("webhooks.allowed_cidrs"), "{err}");
    }

    #[test]
    fn the_vend_limit_reads_from_file_and_environment_and_zero_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "token_vend_limit_per_minute = 50\n").unwrap();
        assert_eq!(
            Config::load(None, &env(&[]))
                .unwrap()
                .token_vend_limit_per_minute,
            600
        );
        assert_eq!(
            Config::load(Some(&path), &env(&[]))
                .unwrap()
                .token_vend_limit_per_minute,
            50
        );
        let off = env(&[("LAKEGATE_TOKEN_VEND_LIMIT_PER_MINUTE", "0")]);
        assert_eq!(
            Config::load(Some(&path), &off)
                .unwrap()
                .token_vend_limit_per_minute,
            0
        );
        let err = Config::load(
            None,
            &env(&[("LAKEGATE_TOKEN_VEND_LIMIT_PER_MINUTE", "-1")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("token_vend_limit_per_minute"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "pubilc_url = \"https://a.example\"\n").unwrap();
        let err = Config::load(Some(&path), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("pubilc_url"), "{err}");
    }
}
