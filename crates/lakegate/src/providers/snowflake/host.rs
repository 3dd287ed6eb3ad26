//! Snowflake account hosts as admins paste them — an account identifier (`myorg-my_account`),
//! the account URL, a legacy locator (`xy12345.us-east-2.aws`), PrivateLink, China
//! (`.snowflakecomputing.cn`), or a Snowsight URL (`app.snowflake.com/<org>/<account>/…`) —
//! normalised to one canonical host: lower case, underscores as hyphens (Snowflake serves
//! that variant; underscores break TLS host checks). One host per integration is used for
//! authorize, token and SQL API calls alike. Every refusal names the problem.

use url::Url;

use crate::egress::Policy;
use crate::egress::policy::is_snowflake_host;

/// A validated account host, with its base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHost {
    /// `host` or `host:port` (a port only where the operator allowed it).
    pub name: String,
    pub base_url: String,
}

const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];
const EXAMPLE: &str = "myorg-myaccount (or https://myorg-myaccount.snowflakecomputing.com)";

/// An account name or locator label: letters, digits, `_` and `-`, at most 63, not
/// starting or ending with `_` or `-`.
fn identifier_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !l.starts_with(['_', '-'])
        && !l.ends_with(['_', '-'])
}

/// What comes before `.snowflakecomputing.com` for a bare identifier or locator, if it is
/// one: `org-account`, `locator`, `locator.region[.cloud]`, with `.privatelink` allowed.
fn account_prefix(raw: &str) -> Option<String> {
    let labels: Vec<&str> = raw.split('.').collect();
    let (body, privatelink) = match labels.split_last() {
        Some((&"privatelink", body)) => (body, true),
        _ => (&labels[..], false),
    };
    let shape_ok = match body {
        [_account] => true,
        [_locator, _region] => privatelink,
        [_locator, _region, cloud] => CLOUDS.contains(cloud),
        _ => false,
    };
    (shape_ok && body.iter().all(|l| identifier_label(l))).then(|| raw.to_owned())
}

/// `app.snowflake.com/<org>/<account>/…` (Snowsight) → `<org>-<account>`.
fn from_snowsight(url: &Url) -> Option<String> {
    if url.host_str()? != "app.snowflake.com" {
        return None;
    }
    let mut parts = url.path_segments()?.filter(|p| !p.is_empty());
    let (org, account) = (parts.next()?, parts.next()?);
    (identifier_label(org) && identifier_label(account)).then(|| format!("{org}-{account}"))
}

impl AccountHost {
    pub fn parse(input: &str, policy: &Policy) -> Result<AccountHost, String> {
        let raw = input.trim().to_ascii_lowercase();
        if raw.is_empty() {
            return Err(format!(
                "enter the account identifier or URL, e.g. {EXAMPLE}"
            ));
        }
        // A bare identifier or locator becomes its account URL.
        let bare = !raw.contains("://") && !raw.contains('/') && !raw.contains(':');
        let prefixed = if bare && !raw.contains("snowflakecomputing") {
            account_prefix(&raw).map(|p| format!("https://{p}.snowflakecomputing.com"))
        } else {
            None
        };
        let with_scheme = match prefixed {
            Some(u) => u,
            None if raw.contains("://") => raw.clone(),
            None => format!("https://{raw}"),
        };
        let url = Url::parse(&with_scheme).map_err(|_| format!("{raw:?} is not an account URL"))?;
        if let Some(account) = from_snowsight(&url) {
            return AccountHost::parse(&account, policy);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the account URL must not contain a user name or password".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the account URL must not contain a query or #fragment".into());
        }
        if !matches!(url.path(), "" | "/" | "/console/login") {
            return Err(format!(
                "the account URL must not contain a path ({}); enter only the host",
                url.path()
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.replace('_', "-"),
            Some(_) => return Err("IP addresses are not accepted; enter the account URL".into()),
            None => return Err(format!("{raw:?} is not an account URL")),
        };
        let port = url.port();
        let snowflake = port.is_none() && is_snowflake_host(&host);
        if !snowflake && !policy.operator_allowed(&host, port) {
            return Err(match port {
                Some(p) => format!(
                    "ports are not accepted ({host}:{p}); Snowflake accounts use the default https port"
                ),
                None => format!(
                    "{host} is not a Snowflake account host (expected {EXAMPLE}); an operator can allow other hosts in the [egress] configuration"
                ),
            });
        }
        let labels_ok = host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
        if !labels_ok {
            return Err(format!("{host:?} is not a valid host name"));
        }
        let scheme = match url.scheme() {
            "https" => "https",
            "http" if policy.plain_http_allowed(&host, port) => "http",
            other => {
                return Err(format!(
                    "{other}:// is not accepted; Snowflake accounts use https"
                ));
            }
        };
        let name = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(AccountHost {
            base_url: format!("{scheme}://{name}"),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::HostPort;

    fn parse(s: &str) -> Result<String, String> {
        AccountHost::parse(s, &Policy::default()).map(|h| h.name)
    }

    #[test]
    fn every_form_admins_paste_becomes_one_host() {
        let want = "myorg-my-account.snowflakecomputing.com";
        for input in [
            "myorg-my_account",
            "MyOrg-My_Account",
            "myorg-my_account.snowflakecomputing.com",
            "https://myorg-my_account.snowflakecomputing.com",
            "https://myorg-my-account.snowflakecomputing.com/",
            "  https://MYORG-MY_ACCOUNT.snowflakecomputing.com/console/login ",
            "https://app.snowflake.com/myorg/my_account/worksheets",
        ] {
            assert_eq!(parse(input).as_deref(), Ok(want), "{input}");
        }
        for (input, host) in [
            ("xy12345", "xy12345.snowflakecomputing.com"),
            (
                "xy12345.us-east-2.aws",
                "xy12345.us-east-2.aws.snowflakecomputing.com",
            ),
            (
                "xy12345.east-us-2.azure",
                "xy12345.east-us-2.azure.snowflakecomputing.com",
            ),
            (
                "myorg-acct.privatelink",
                "myorg-acct.privatelink.snowflakecomputing.com",
            ),
            (
                "xy12345.us-east-1.privatelink",
                "xy12345.us-east-1.privatelink.snowflakecomputing.com",
            ),
            (
                "xy12345.cn-north-1.snowflakecomputing.cn",
                "xy12345.cn-north-1.snowflakecomputing.cn",
            ),
        ] {
            assert_eq!(parse(input).as_deref(), Ok(host), "{input}");
        }
        let base = AccountHost::parse("myorg-acct", &Policy::default())
            .unwrap()
            .base_url;
        assert_eq!(base, "https://myorg-acct.snowflakecomputing.com");
    }

    #[test]
    fn each_refusal_names_the_problem() {
        for (input, expected) in [
            ("", "enter the account identifier"),
            ("evil.com", "not a Snowflake account host"),
            (
                "xy12345.us-east-2.evilcloud",
                "not a Snowflake account host",
            ),
            (
                "myorg-acct.snowflakecomputing.com.evil.net",
                "not a Snowflake account host",
            ),
            ("snowflakecomputing.com", "not a Snowflake account host"),
            (
                "https://user:pw@a-b.snowflakecomputing.com",
                "user name or password",
            ),
            (
                "https://a-b.snowflakecomputing.com/api/v2/statements",
                "path",
            ),
            ("https://a-b.snowflakecomputing.com/?x=1", "query"),
            ("a-b.snowflakecomputing.com:8443", "ports are not accepted"),
            ("http://a-b.snowflakecomputing.com", "http://"),
            ("https://52.1.2.3", "IP addresses"),
            ("acct_", "not a Snowflake account host"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn operators_can_allow_an_emulator_over_plain_http() {
        let policy = Policy {
            extra_allowed_hosts: vec![HostPort::parse("localhost:8082").unwrap()],
            insecure_http_hosts: vec![HostPort::parse("localhost:8082").unwrap()],
            ..Policy::default()
        };
        let h = AccountHost::parse("http://localhost:8082", &policy).unwrap();
        assert_eq!(
            (h.name.as_str(), h.base_url.as_str()),
            ("localhost:8082", "http://localhost:8082")
        );
    }
}
