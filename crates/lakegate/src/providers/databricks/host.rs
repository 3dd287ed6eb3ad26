//! Workspace hosts as admins paste them, normalised to a bare host (and port, only where
//! the operator allowed one). Every refusal names the problem.

use std::fmt;

use url::Url;

use crate::egress::Policy;

/// A validated workspace host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceHost {
    host: String,
    port: Option<u16>,
    plain_http: bool,
}

impl WorkspaceHost {
    /// Normalises and validates what an admin typed or pasted.
    pub fn parse(input: &str, policy: &Policy) -> Result<WorkspaceHost, String> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(
                "enter the workspace host, e.g. dbc-a1b2c3d4-e5f6.cloud.databricks.com".into(),
            );
        }
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|_| format!("{raw:?} is not a host name"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the host must not contain a user name or password".into());
        }
        if url.fragment().is_some() {
            return Err("the host must not contain a #fragment".into());
        }
        if let Some(q) = url.query() {
            // `?o=<workspace id>` is what the Databricks UI shows in its URLs: harmless, dropped.
            let only_workspace_id = url
                .query_pairs()
                .all(|(k, v)| k == "o" && v.chars().all(|c| c.is_ascii_digit()));
            if !only_workspace_id {
                return Err(format!("the host must not contain a query (?{q})"));
            }
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(format!(
                "the host must not contain a path ({}); enter only the workspace host",
                url.path()
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
                return Err("IP addresses are not accepted; enter the workspace host name".into());
            }
            None => return Err(format!("{raw:?} is not a host name")),
        };
        if !valid_dns_name(&host) {
            return Err(format!("{host:?} is not a valid host name"));
        }
        let port = url.port();
        let plain_http = match url.scheme() {
            "https" => false,
            "http" if policy.plain_http_allowed(&host, port) => true,
            "http" => {
                return Err("plain http is not accepted; Databricks workspaces use https".into());
            }
            other => {
                return Err(format!(
                    "{other}:// is not accepted; Databricks workspaces use https"
                ));
            }
        };
        let databricks = port.is_none() && crate::egress::policy::is_databricks_host(&host);
        if !databricks && !policy.operator_allowed(&host, port) {
            return Err(match port {
                Some(p) => format!(
                    "ports are not accepted ({host}:{p}); Databricks workspaces use the default https port"
                ),
                None => format!(
                    "{host} is not a Databricks workspace host (expected a name ending in {}); an operator can allow other hosts in the [egress] configuration",
                    crate::egress::policy::DATABRICKS_SUFFIXES.join(", ")
                ),
            });
        }
        Ok(WorkspaceHost {
            host,
            port,
            plain_http,
        })
    }

    /// `https://host[:port]`, the workspace's base URL.
    pub fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{self}")
    }
}

impl fmt::Display for WorkspaceHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

fn valid_dns_name(host: &str) -> bool {
    host.len() <= 253
        && (host.contains('.') || host == "localhost")
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::HostPort;

    fn parse(s: &str) -> Result<String, String> {
        WorkspaceHost::parse(s, &Policy::default()).map(|h| h.to_string())
    }

    #[test]
    fn what_people_paste_is_normalised() {
        let want = Ok("dbc-a1b2c3d4-e5f6.cloud.databricks.com".to_owned());
        for input in [
            "dbc-a1b2c3d4-e5f6.cloud.databricks.com",
            "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com/",
            "  https://DBC-A1B2C3D4-E5F6.Cloud.Databricks.com  ",
            "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com/?o=1234567890",
            "dbc-a1b2c3d4-e5f6.cloud.databricks.com/",
        ] {
            assert_eq!(parse(input), want, "{input}");
        }
        assert_eq!(
            parse("adb-1234567890123456.7.azuredatabricks.net"),
            Ok("adb-1234567890123456.7.azuredatabricks.net".into())
        );
        assert_eq!(
            parse("1234567890.1.gcp.databricks.com"),
            Ok("1234567890.1.gcp.databricks.com".into())
        );
    }

    #[test]
    fn each_refusal_names_the_problem() {
        let cases = [
            ("", "enter the workspace host"),
            ("52.1.2.3", "IP addresses"),
            ("https://[::1]/", "IP addresses"),
            ("https://2130706433/", "IP addresses"),
            ("https://0x7f.0.0.1/", "IP addresses"),
            (
                "https://user:pw@dbc-1.cloud.databricks.com",
                "user name or password",
            ),
            (
                "https://dbc-1.cloud.databricks.com/sql/1.0/warehouses/abc",
                "path",
            ),
            ("https://dbc-1.cloud.databricks.com/?next=evil", "query"),
            ("https://dbc-1.cloud.databricks.com/#x", "fragment"),
            ("dbc-1.cloud.databricks.com:8443", "ports are not accepted"),
            ("http://dbc-1.cloud.databricks.com", "plain http"),
            ("ftp://dbc-1.cloud.databricks.com", "ftp://"),
            (
                "dbc-1.cloud.databricks.com.evil.net",
                "not a Databricks workspace host",
            ),
            (
                "evilcloud.databricks.com",
                "not a Databricks workspace host",
            ),
            ("cloud.databricks.com", "not a Databricks workspace host"),
            ("localhost", "not a Databricks workspace host"),
            ("dbc_1.cloud.databricks.com", "not a valid host name"),
        ];
        for (input, expected) in cases {
            let err = parse(input).unwrap_err();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn operators_can_allow_more_hosts_and_plain_http_for_development() {
        let policy = Policy {
            extra_allowed_hosts: vec![
                HostPort::parse("localhost:8081").unwrap(),
                HostPort::parse("dbc.privatelink.example").unwrap(),
            ],
            insecure_http_hosts: vec![HostPort::parse("localhost:8081").unwrap()],
            ..Policy::default()
        };
        let h = WorkspaceHost::parse("http://localhost:8081/", &policy).unwrap();
        assert_eq!(
            (h.to_string(), h.base_url()),
            ("localhost:8081".into(), "http://localhost:8081".into())
        );
        let h = WorkspaceHost::parse("dbc.privatelink.example", &policy).unwrap();
        assert_eq!(h.base_url(), "https://dbc.privatelink.example");
        assert!(WorkspaceHost::parse("http://dbc.privatelink.example", &policy).is_err());
    }
}
