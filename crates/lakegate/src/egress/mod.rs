//! The one guarded outbound HTTP client. Every call Lakegate makes to a workspace goes
//! through `Egress`: the host must be allowed, the scheme https (plain http only for hosts
//! the operator listed), the name is resolved here and every address checked — reqwest then
//! connects to exactly those addresses, with no second lookup —, redirects are never
//! followed, time and response size are bounded, TLS is verified (system roots plus an
//! optional extra CA).

pub mod policy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

pub use policy::{HostPort, Policy};

/// Default cap on a response body.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The guard refused before any connection was made.
    #[error("refused: {0}")]
    Refused(String),
    #[error("could not connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("{host} did not answer in time")]
    Timeout { host: String },
    #[error("{host} answered with a redirect ({status}); redirects are not followed")]
    Redirect { host: String, status: u16 },
    /// The answer had this status, but its body passed the limit (and was not read).
    #[error("the answer from {host} is larger than {limit} bytes")]
    TooLarge {
        host: String,
        limit: usize,
        status: u16,
    },
    #[error("request to {host} failed: {reason}")]
    Other { host: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EgressSetupError {
    #[error("cannot read egress.extra_ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A response that passed the guard: status, headers and a bounded body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Resolves names and drops every address the policy refuses.
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| policy.address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} resolves to addresses Lakegate may not connect to ({})",
                    refused.join(", ")
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Egress {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("policy", &self.policy)
            .finish()
    }
}

/// A request to send: method, URL, headers and an optional form or JSON body.
/// What a request is for, which decides the hosts it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A workspace's API (and its token endpoint).
    Workspace,
    /// A presigned EXTERNAL_LINKS result in cloud storage: never with credentials of ours.
    ResultStorage,
    /// A webhook receiver: any host an admin names, never with credentials of ours; the
    /// webhook client's own policy decides which addresses (`[webhooks]`).
    Webhook,
}

pub struct Request<'a> {
    pub method: reqwest::Method,
    pub url: &'a Url,
    pub destination: Destination,
    pub bearer: Option<&'a str>,
    /// A client's own credentials as `Authorization: Basic` (a token endpoint's
    /// client_secret_basic), already in the form the server expects.
    pub basic: Option<(&'a str, &'a str)>,
    /// Extra headers the server asked for (e.g. an external link's `http_headers`).
    pub headers: &'a [(String, String)],
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub json: Option<&'a serde_json::Value>,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl<'a> Request<'a> {
    pub fn get(url: &'a Url) -> Self {
        Request {
            method: reqwest::Method::GET,
            url,
            destination: Destination::Workspace,
            bearer: None,
            basic: None,
            headers: &[],
            form: None,
            json: None,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
    pub fn post_form(url: &'a Url, form: &'a [(&'a str, &'a str)]) -> Self {
        Request {
            method: reqwest::Method::POST,
            form: Some(form),
            ..Self::get(url)
        }
    }
}

impl Egress {
    pub fn new(policy: Policy, extra_ca_pem: Option<&[u8]>) -> Result<Egress, EgressSetupError> {
        // One process-wide crypto provider for rustls; ring is already in the tree.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DEFAULT_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("lakegate/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }));
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| EgressSetupError::Client(e.to_string()))?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .build()
            .map_err(|e| EgressSetupError::Client(e.to_string()))?;
        Ok(Egress { client, policy })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks a URL against the policy without connecting.
    pub fn check(&self, url: &Url) -> Result<(), EgressError> {
        self.check_for(url, Destination::Workspace)
    }

    /// Checks a URL for a destination against the policy without connecting.
    pub fn check_for(&self, url: &Url, destination: Destination) -> Result<(), EgressError> {
        let host = url
            .host_str()
            .ok_or_else(|| EgressError::Refused("the URL has no host".into()))?
            .to_ascii_lowercase();
        let port = url.port();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::Refused(
                "URLs with user information are not allowed".into(),
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if self.policy.plain_http_allowed(&host, port) => {}
            other => {
                return Err(EgressError::Refused(format!(
                    "{other}:// is not allowed for {host}; use https"
                )));
            }
        }
        // IP literals never reach the resolver, so they are judged here.
        if let Some(ip) = literal_ip(url)
            && !self.policy.address_allowed(ip)
        {
            return Err(EgressError::Refused(format!(
                "{ip} is not an address Lakegate may connect to"
            )));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let allowed = match destination {
            Destination::Workspace => self.policy.host_allowed(bare, port),
            Destination::ResultStorage => self.policy.result_storage_allowed(bare, port),
            Destination::Webhook => true,
        };
        if !allowed {
            return Err(EgressError::Refused(format!(
                "{} is not a Databricks workspace host and is not in egress.extra_allowed_hosts",
                url.host_str().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Sends a request through the guard and reads at most `max_bytes` of the answer.
    pub async fn send(&self, req: Request<'_>) -> Result<Response, EgressError> {
        self.check_for(req.url, req.destination)?;
        // Storage and receivers get no credentials of ours, whatever a server asks for.
        if req.destination != Destination::Workspace
            && (req.bearer.is_some() || req.basic.is_some())
        {
            return Err(EgressError::Refused(
                "no Authorization header goes to result storage or a webhook receiver".into(),
            ));
        }
        let host = req.url.host_str().unwrap_or_default().to_owned();
        let mut builder = self
            .client
            .request(req.method, req.url.clone())
            .timeout(req.timeout);
        if let Some(token) = req.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some((id, secret)) = req.basic {
            builder = builder.basic_auth(id, Some(secret));
        }
        for (name, value) in req.headers {
            let forbidden = ["authorization", "cookie", "host", "proxy-authorization"];
            if !forbidden.contains(&name.to_ascii_lowercase().as_str()) {
                builder = builder.header(name, value);
            }
        }
        if let Some(form) = req.form {
            builder = builder.form(form);
        }
        if let Some(json) = req.json {
            builder = builder.json(json);
        }
        let mut resp = builder.send().await.map_err(|e| classify(&host, &e))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Err(EgressError::Redirect { host, status });
        }
        if resp
            .content_length()
            .is_some_and(|n| n as usize > req.max_bytes)
        {
            return Err(EgressError::TooLarge {
                host,
                limit: req.max_bytes,
                status,
            });
        }
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&host, &e))? {
            if body.len() + chunk.len() > req.max_bytes {
                return Err(EgressError::TooLarge {
                    host,
                    limit: req.max_bytes,
                    status,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// A short, secret-free description of a transport failure.
fn classify(host: &str, e: &reqwest::Error) -> EgressError {
    if e.is_timeout() {
        return EgressError::Timeout {
            host: host.to_owned(),
        };
    }
    // The innermost cause says what went wrong (refused address, DNS, TLS, reset).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let reason = cause.to_string();
    if e.is_connect() {
        if reason.contains("may not connect to") {
            return EgressError::Refused(reason);
        }
        return EgressError::Connect {
            host: host.to_owned(),
            reason,
        };
    }
    EgressError::Other {
        host: host.to_owned(),
        reason,
    }
}
