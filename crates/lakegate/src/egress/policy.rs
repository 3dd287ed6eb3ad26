//! Where Lakegate may connect: the address rules (no loopback, private, link-local,
//! multicast or otherwise special addresses unless the operator allowed their CIDR) and the
//! host rules (Databricks workspace suffixes, plus hosts the operator added). Pure logic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Workspace host suffixes Databricks uses, matched on a label boundary.
pub const DATABRICKS_SUFFIXES: [&str; 7] = [
    "cloud.databricks.com",
    "cloud.databricks.us",
    "cloud.databricks.mil",
    "azuredatabricks.net",
    "databricks.azure.cn",
    "databricks.azure.us",
    "gcp.databricks.com",
];

/// A host with an optional explicit port, as operators list them (`host` or `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(entry: &str) -> Result<HostPort, String> {
        let e = entry.trim().to_ascii_lowercase();
        let (host, port) = match e.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (
                h.to_owned(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("{entry:?} has an invalid port"))?,
                ),
            ),
            _ => (e.clone(), None),
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!("{entry:?} is not a host or host:port"));
        }
        Ok(HostPort { host, port })
    }

    /// Whether this entry covers `host` on `port` (an entry without a port covers the default port only).
    fn covers(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port == port
    }
}

/// The operator's egress settings, validated.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub extra_allowed_hosts: Vec<HostPort>,
    pub allowed_cidrs: Vec<IpNet>,
    pub insecure_http_hosts: Vec<HostPort>,
    /// Where Google's fixed endpoints are served instead of Google's hosts: one base URL
    /// with Google's paths (tests and the demo's emulator). Its host must also be allowed.
    pub google_base_url: Option<url::Url>,
}

/// Google's hosts that the BigQuery provider reaches, and nothing else of Google's.
pub const GOOGLE_HOSTS: [&str; 5] = [
    "accounts.google.com",
    "oauth2.googleapis.com",
    "openidconnect.googleapis.com",
    "www.googleapis.com",
    "bigquery.googleapis.com",
];

impl Policy {
    /// May Lakegate download a result from `host[:port]`? Cloud storage on the default port,
    /// or any host it may talk to anyway.
    pub fn result_storage_allowed(&self, host: &str, port: Option<u16>) -> bool {
        (port.is_none() && is_result_storage_host(host)) || self.host_allowed(host, port)
    }

    /// May Lakegate talk to `host[:port]` at all? A vendor's hosts (Databricks workspaces,
    /// Snowflake accounts) on the default port, or what the operator listed.
    pub fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        let vendor = port.is_none()
            && (is_databricks_host(host)
                || is_snowflake_host(host)
                || GOOGLE_HOSTS.contains(&host));
        vendor || self.operator_allowed(host, port)
    }

    /// Did the operator list `host[:port]` in `[egress]`?
    pub fn operator_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.extra_allowed_hosts
            .iter()
            .any(|h| h.covers(host, port))
    }

    /// Plain http is only for hosts the operator listed (loopback development).
    pub fn plain_http_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.insecure_http_hosts
            .iter()
            .any(|h| h.covers(host, port))
    }

    /// May Lakegate connect to this address? Public addresses yes; special ones only
    /// inside a CIDR the operator allowed.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_special(ip) || self.allowed_cidrs.iter().any(|net| net.contains(&ip))
    }
}

/// Cloud object storage that Databricks' EXTERNAL_LINKS results point to (presigned URLs):
/// S3 (`…s3…amazonaws.com`), Azure Blob and Data Lake storage, Google Cloud Storage.
pub fn is_result_storage_host(host: &str) -> bool {
    let ends = |suffix: &str| {
        host.strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
    };
    let s3 = (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
        && host
            .split('.')
            .any(|label| label == "s3" || label.starts_with("s3-"));
    let azure = [
        "blob.core.windows.net",
        "dfs.core.windows.net",
        "blob.core.usgovcloudapi.net",
        "dfs.core.usgovcloudapi.net",
        "blob.core.chinacloudapi.cn",
        "dfs.core.chinacloudapi.cn",
    ]
    .iter()
    .any(|s| ends(s));
    let gcs = host == "storage.googleapis.com" || ends("storage.googleapis.com");
    s3 || azure || gcs
}

/// `host` ends, on a label boundary, in a Databricks suffix (and has a label before it).
pub fn is_databricks_host(host: &str) -> bool {
    has_suffix(host, &DATABRICKS_SUFFIXES)
}

/// Snowflake account hosts (commercial and China regions, public and PrivateLink).
pub const SNOWFLAKE_SUFFIXES: [&str; 2] = ["snowflakecomputing.com", "snowflakecomputing.cn"];

/// `host` is a Snowflake account host: a label before `.snowflakecomputing.com` or `.cn`.
pub fn is_snowflake_host(host: &str) -> bool {
    has_suffix(host, &SNOWFLAKE_SUFFIXES)
}

fn has_suffix(host: &str, suffixes: &[&str]) -> bool {
    suffixes.iter().any(|s| {
        host.strip_suffix(s)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
    })
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses are judged as the IPv4 they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: carries an IPv4 address
        || s[0] == 0x2002 // 6to4: carries an IPv4 address
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard
        || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_storage_hosts_are_the_clouds_object_stores_only() {
        for ok in [
            "dbstorage-prod-abc.s3.us-west-2.amazonaws.com",
            "s3.us-west-2.amazonaws.com",
            "bucket.s3-fips.us-east-1.amazonaws.com",
            "dbstoragexyz.blob.core.windows.net",
            "dbstoragexyz.dfs.core.windows.net",
            "storage.googleapis.com",
            "bucket.storage.googleapis.com",
        ] {
            assert!(is_result_storage_host(ok), "{ok}");
        }
        for no in [
            "ec2.us-west-2.amazonaws.com",
            "evil.example.com",
            "s3.amazonaws.com.evil.example",
            "blob.core.windows.net",
            "xblob.core.windows.net",
            "googleapis.com",
            "metadata.google.internal",
        ] {
            assert!(!is_result_storage_host(no), "{no}");
        }
        let p = Policy::default();
        assert!(p.result_storage_allowed("bucket.s3.amazonaws.com", None));
        assert!(!p.result_storage_allowed("bucket.s3.amazonaws.com", Some(8443)));
        assert!(p.result_storage_allowed("dbc-1.cloud.databricks.com", None));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_refused() {
        let p = Policy::default();
        for s in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
            "2001::1",
        ] {
            assert!(!p.address_allowed(ip(s)), "{s} must be refused");
        }
        for s in ["52.1.2.3", "8.8.8.8", "2600:1f18::1"] {
            assert!(p.address_allowed(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn operators_can_allow_a_cidr() {
        let p = Policy {
            allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
            ..Policy::default()
        };
        assert!(p.address_allowed(ip("127.0.0.1")));
        assert!(
            p.address_allowed(ip("::ffff:127.0.0.1")),
            "mapped forms are judged as IPv4"
        );
        assert!(!p.address_allowed(ip("10.0.0.1")));
    }

    #[test]
    fn databricks_suffixes_match_on_a_label_boundary() {
        assert!(is_databricks_host("dbc-1234-abcd.cloud.databricks.com"));
        assert!(is_databricks_host("adb-123.4.azuredatabricks.net"));
        assert!(!is_databricks_host("cloud.databricks.com"));
        assert!(!is_databricks_host("evilcloud.databricks.com.attacker.net"));
        assert!(!is_databricks_host("notcloud.databricks.com.evil"));
        assert!(!is_databricks_host("xcloud.databricks.com"));
        assert!(is_snowflake_host("myorg-acct.snowflakecomputing.com"));
        assert!(is_snowflake_host(
            "xy12345.cn-north-1.snowflakecomputing.cn"
        ));
        assert!(!is_snowflake_host("snowflakecomputing.com"));
        assert!(!is_snowflake_host("evilsnowflakecomputing.com"));
        assert!(!is_snowflake_host("a.snowflakecomputing.com.evil.net"));
    }

    #[test]
    fn extra_hosts_match_host_and_port_exactly() {
        let p = Policy {
            extra_allowed_hosts: vec![HostPort::parse("LocalHost:8443").unwrap()],
            ..Policy::default()
        };
        assert!(p.host_allowed("localhost", Some(8443)));
        assert!(!p.host_allowed("localhost", None));
        assert!(!p.host_allowed("localhost", Some(8444)));
        assert!(p.host_allowed("dbc-1.cloud.databricks.com", None));
        assert!(
            !p.host_allowed("dbc-1.cloud.databricks.com", Some(8443)),
            "no ports on Databricks hosts"
        );
        assert!(HostPort::parse("x:notaport").is_err());
    }
}
