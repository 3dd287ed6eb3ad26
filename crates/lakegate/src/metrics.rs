//! Prometheus metrics. Labels are route templates, hosts and fixed outcome codes — never
//! raw paths, ids or anything that may hold a secret.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    outcome: &'static str,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabel {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

type HistogramFactory = fn() -> Histogram;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, HistogramFactory>,
    refreshes: Family<RefreshLabels, Counter>,
    token_calls: Family<HostLabel, Counter>,
    credentials: Family<StatusLabel, prometheus_client::metrics::gauge::Gauge>,
    time_to_fresh: Histogram,
    vended: Counter,
    queries: Family<StatusLabel, Counter>,
    token_rejected: Counter,
    webhooks: Family<StatusLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lakegate");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabel, Histogram, HistogramFactory> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.5, 12)));
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let refreshes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "token_refreshes",
            "Token refresh attempts by outcome and reason",
            refreshes.clone(),
        );
        let token_calls = Family::<HostLabel, Counter>::default();
        registry.register(
            "token_calls",
            "Requests to workspace token endpoints, by host",
            token_calls.clone(),
        );
        let credentials =
            Family::<StatusLabel, prometheus_client::metrics::gauge::Gauge>::default();
        registry.register(
            "credentials",
            "Credentials by status (at scrape time)",
            credentials.clone(),
        );
        let time_to_fresh = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "token_time_to_fresh_seconds",
            "Time callers waited for a refreshed access token",
            time_to_fresh.clone(),
        );
        let vended = Counter::default();
        registry.register(
            "tokens_vended",
            "Access tokens handed out by the token broker",
            vended.clone(),
        );
        let queries = Family::<StatusLabel, Counter>::default();
        registry.register(
            "queries",
            "Queries by how they ended (SUCCEEDED, FAILED, CANCELED, CLOSED, TIMED_OUT, ABANDONED)",
            queries.clone(),
        );
        let token_rejected = Counter::default();
        registry.register(
            "token_rejected_retries",
            "Databricks calls repeated once after Databricks rejected the access token",
            token_rejected.clone(),
        );
        let webhooks = Family::<StatusLabel, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by result (delivered, retry, failed: no retry left)",
            webhooks.clone(),
        );
        Metrics {
            webhooks,
            registry,
            queries,
            token_rejected,
            requests,
            latency,
            refreshes,
            token_calls,
            credentials,
            time_to_fresh,
            vended,
        }
    }
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn refresh(&self, outcome: &'static str, reason: &str) {
        self.refreshes
            .get_or_create(&RefreshLabels {
                outcome,
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn token_call(&self, host: &str) {
        self.token_calls
            .get_or_create(&HostLabel {
                host: host.to_owned(),
            })
            .inc();
    }

    pub fn time_to_fresh(&self, seconds: f64) {
        self.time_to_fresh.observe(seconds);
    }

    pub fn vended(&self) {
        self.vended.inc();
    }

    pub fn query_finished(&self, state: &str) {
        self.queries
            .get_or_create(&StatusLabel {
                status: state.to_owned(),
            })
            .inc();
    }

    /// One webhook delivery attempt ended: `delivered`, `retry` or `failed`.
    pub fn webhook_attempt(&self, result: &str) {
        self.webhooks
            .get_or_create(&StatusLabel {
                status: result.to_owned(),
            })
            .inc();
    }

    pub fn token_rejected_retry(&self) {
        self.token_rejected.inc();
    }

    /// Sets the credentials-by-status gauge (read from the store at scrape time).
    pub fn set_credentials(&self, counts: &[crate::store::StateCount]) {
        self.credentials.clear();
        for c in counts {
            self.credentials
                .get_or_create(&StatusLabel {
                    status: c.status.as_str().to_owned(),
                })
                .set(c.count);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
