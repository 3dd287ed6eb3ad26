//! The emulator's configuration: users and their grants, app connections, warehouses and
//! knobs. With no file it starts from `EmulatorConfig::default()` (print it with
//! `--print-default-config`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorConfig {
    /// Listen address (the binary's `--listen` overrides it).
    pub listen: String,
    /// Base of the issuer and every emitted URL; default built from the listen address.
    pub public_url: Option<String>,
    /// Without `public_url`: the host name to put in URLs instead of the listen IP (the
    /// port stays the bound one), e.g. `localhost` so clients can use a DNS name.
    pub advertise_host: Option<String>,
    /// Serve HTTPS with a certificate generated at start.
    pub tls: bool,
    /// Where to write the generated CA certificate (PEM) when `tls` is on.
    pub tls_ca_out: Option<String>,
    /// Guards the account API (app connections) as `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Enables the control API under `/emulator/control`.
    pub control: bool,
    /// Skip the consent page after a successful login (tests).
    pub auto_approve: bool,
    /// The workspace id returned in `X-Databricks-Org-Id`.
    pub org_id: String,
    /// Rows per result chunk of the Statement Execution API (and per SQL API v2 partition).
    pub chunk_rows: usize,
    /// How long a synchronous SQL API v2 submission waits before answering 202 (Snowflake:
    /// about 45 s).
    pub snowflake_sync_wait_ms: u64,
    /// Items per page of the Unity Catalog listings (small, so clients must page).
    pub page_size: usize,
    /// Rows generated for `samples.nyctaxi.trips`.
    pub nyctaxi_rows: usize,
    /// Authorization codes live this long.
    pub code_ttl_seconds: i64,
    /// Callbacks carry `iss` and discovery advertises
    /// `authorization_response_iss_parameter_supported` (RFC 9207). Databricks' callbacks
    /// have been seen with `iss`; whether its metadata advertises it is unknown, so the
    /// default is the strict case: advertised, and clients must then insist on it.
    pub authorization_response_iss: bool,
    /// HTTP status for a dead refresh token: Databricks has been seen with 400 and 401.
    pub invalid_refresh_status: u16,
    pub users: Vec<UserConfig>,
    pub apps: Vec<AppConfig>,
    /// Snowflake security integrations (the Snowflake front-end's OAuth clients).
    pub snowflake_integrations: Vec<SnowflakeIntegrationConfig>,
    /// Google OAuth clients ("Web application") for the Google/BigQuery front-end.
    pub google_clients: Vec<GoogleClientConfig>,
    /// BigQuery projects over the shared sample data.
    pub google_projects: Vec<GoogleProjectConfig>,
    /// How long a BigQuery job runs (real milliseconds) before it completes.
    pub bigquery_job_ms: u64,
    /// Most rows on one page of BigQuery results (Google caps pages at about 10 MB).
    pub bigquery_page_rows: usize,
    pub warehouses: Vec<WarehouseConfig>,
}

/// A Google OAuth client of type "Web application".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleClientConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Authorized redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Publishing status "Testing": refresh tokens die after 7 days.
    #[serde(default)]
    pub testing: bool,
}

/// A BigQuery project: its datasets are the schemas of one engine catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleProjectConfig {
    pub id: String,
    pub catalog: String,
    /// Where its datasets and jobs live (`US`, `EU`, or a region such as `europe-west2`).
    pub location: String,
    /// Users with a project-level role (listed by projects.list; may create jobs).
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub email: String,
    pub password: String,
    pub display_name: String,
    /// Tables the user may read, as `catalog.schema.table` patterns; `*` matches a whole part.
    pub grants: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Snowflake roles granted to the user; the first is their default role.
    #[serde(default)]
    pub snowflake_roles: Vec<String>,
}

/// A Snowflake security integration (`TYPE = OAUTH OAUTH_CLIENT = CUSTOM`, confidential).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnowflakeIntegrationConfig {
    pub name: String,
    /// Standard base64 with `+ / =`, as Snowflake issues them.
    pub client_id: String,
    pub client_secret: String,
    /// One URI; an authorize request matches it after its query is removed.
    pub redirect_uri: String,
    /// OAUTH_REFRESH_TOKEN_VALIDITY: absolute from sign-in (86400–7776000).
    #[serde(default = "default_refresh_validity")]
    pub refresh_token_validity_seconds: i64,
    /// OAUTH_SINGLE_USE_REFRESH_TOKENS_REQUIRED: every refresh rotates; reuse revokes the chain.
    #[serde(default)]
    pub single_use_refresh_tokens: bool,
    /// PRE_AUTHORIZED_ROLES_LIST: no consent page for these roles.
    #[serde(default)]
    pub pre_authorized_roles: Vec<String>,
    /// BLOCKED_ROLES_LIST (ACCOUNTADMIN, ORGADMIN, GLOBALORGADMIN, SECURITYADMIN always are).
    #[serde(default)]
    pub blocked_roles: Vec<String>,
}

fn default_refresh_validity() -> i64 {
    7_776_000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub name: String,
    pub client_id: String,
    /// Present for confidential clients.
    pub client_secret: Option<String>,
    pub redirect_urls: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_access_policy: TokenPolicy,
}

/// Mirrors the account API's `token_access_policy`, plus the emulator's reuse grace window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TokenPolicy {
    pub access_token_ttl_in_minutes: i64,
    pub refresh_token_ttl_in_minutes: i64,
    pub enable_single_use_refresh_tokens: bool,
    pub absolute_session_lifetime_in_minutes: Option<i64>,
    /// Seconds after a rotation during which presenting the old refresh token again returns
    /// the same successor instead of revoking the family (0: strict).
    pub reuse_grace_seconds: i64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            access_token_ttl_in_minutes: 60,
            refresh_token_ttl_in_minutes: 10_080,
            enable_single_use_refresh_tokens: false,
            absolute_session_lifetime_in_minutes: None,
            reuse_grace_seconds: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    pub id: String,
    pub name: String,
    /// `RUNNING` or `STOPPED`; a stopped warehouse starts when a statement arrives.
    pub state: String,
    /// Seconds (emulator clock) a stopped warehouse takes to start.
    #[serde(default)]
    pub start_seconds: i64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: "127.0.0.1:8081".into(),
            public_url: None,
            advertise_host: None,
            tls: false,
            tls_ca_out: None,
            admin_token: None,
            control: false,
            auto_approve: false,
            org_id: "1234567890123456".into(),
            chunk_rows: 10_000,
            snowflake_sync_wait_ms: 45_000,
            page_size: 2,
            nyctaxi_rows: 100_000,
            code_ttl_seconds: 300,
            authorization_response_iss: true,
            invalid_refresh_status: 401,
            users: vec![
                UserConfig {
                    email: "alice@example.com".into(),
                    password: "alice".into(),
                    display_name: "Alice Analyst".into(),
                    grants: vec!["samples.*.*".into(), "main.*.*".into()],
                    groups: vec!["analysts".into(), "finance".into()],
                    snowflake_roles: vec!["ANALYST".into(), "PUBLIC".into()],
                },
                UserConfig {
                    email: "bob@example.com".into(),
                    password: "bob".into(),
                    display_name: "Bob Builder".into(),
                    grants: vec!["samples.nyctaxi.*".into()],
                    groups: vec!["analysts".into()],
                    snowflake_roles: vec!["VIEWER".into(), "PUBLIC".into()],
                },
            ],
            apps: vec![],
            snowflake_integrations: vec![],
            google_clients: vec![],
            google_projects: vec![
                GoogleProjectConfig {
                    id: "lakegate-samples".into(),
                    catalog: "samples".into(),
                    // A region, not US/EU: jobs must be addressed with their location.
                    location: "europe-west2".into(),
                    members: vec!["alice@example.com".into(), "bob@example.com".into()],
                },
                GoogleProjectConfig {
                    id: "lakegate-finance".into(),
                    catalog: "main".into(),
                    location: "US".into(),
                    members: vec!["alice@example.com".into()],
                },
            ],
            bigquery_job_ms: 0,
            bigquery_page_rows: 500,
            warehouses: vec![WarehouseConfig {
                id: "abcdef1234567890".into(),
                name: "Starter Warehouse".into(),
                state: "RUNNING".into(),
                start_seconds: 0,
            }],
        }
    }
}

impl EmulatorConfig {
    /// A small, fast configuration for tests: fewer sample rows, tiny chunks and pages.
    pub fn for_tests() -> Self {
        EmulatorConfig {
            listen: "127.0.0.1:0".into(),
            control: true,
            nyctaxi_rows: 2_000,
            chunk_rows: 500,
            snowflake_sync_wait_ms: 2_000,
            ..EmulatorConfig::default()
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}
