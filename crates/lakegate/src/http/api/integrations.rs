//! `/api/v1/integrations`: the list of kinds, and one resource per provider kind.

use std::sync::OnceLock;

use axum::extract::{MatchedPath, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::clock::rfc3339;
use crate::field_rules as rules;
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::guard::{Audit, Auth};
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::integrations::service::default_lifetimes;
use crate::integrations::{SaveInput, TokenLifetimes};
use crate::providers::{self, Provider, redirect_url};
use crate::secret::Secret;
use crate::store::IntegrationRow;

/// `/api/v1/integrations/<kind>` of every provider, made once per process.
fn paths() -> &'static [(&'static dyn Provider, &'static str)] {
    static PATHS: OnceLock<Vec<(&'static dyn Provider, &'static str)>> = OnceLock::new();
    PATHS.get_or_init(|| {
        providers::ALL
            .iter()
            .map(|p| {
                let path: &'static str =
                    Box::leak(format!("/api/v1/integrations/{}", p.info().kind).into_boxed_str());
                (*p, path)
            })
            .collect()
    })
}

/// The provider whose resource a request's route is.
fn provider_of(route: &MatchedPath) -> ApiResult<&'static dyn Provider> {
    paths()
        .iter()
        .find(|(_, path)| *path == route.as_str())
        .map(|(p, _)| *p)
        .ok_or_else(|| ApiError::not_found("integration kind"))
}

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/api/v1/integrations",
        Kind::Api,
        Access::Admin,
        "Every available integration kind with its state",
        list,
    );
    reg.answers::<Vec<Listed>>(200);
    for (provider, path) in paths() {
        let title = provider.info().title;
        reg.add(M::Get, path, Kind::Api, Access::Admin, title, show);
        reg.answers::<IntegrationView>(200);
        reg.add(M::Put, path, Kind::Api, Access::Admin, title, put);
        reg.body::<PutBody>();
        reg.answers::<IntegrationView>(200);
        reg.add(M::Delete, path, Kind::Api, Access::Admin, title, delete);
        reg.answers_empty(204);
    }
}

/// The integration as the API shows it: never the secret, only whether one is set.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IntegrationView {
    pub kind: &'static str,
    pub name: &'static str,
    pub configured: bool,
    pub redirect_url: String,
    pub host: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    pub secret_updated_at: Option<String>,
    pub scopes: Option<String>,
    pub status: &'static str,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    pub refresh_token_lifetime_minutes: i64,
    pub absolute_session_lifetime_minutes: Option<i64>,
    /// BigQuery: the billing project new connections start with.
    pub default_project: Option<String>,
    /// Databricks: the other workspaces of the account the admin added (`host` is the
    /// first); connections pick one of these, never another host.
    pub additional_hosts: Vec<String>,
    /// What the last save could not verify (the redirect URL's registration, say): a
    /// warning, not an error; null when everything was checked.
    pub setup_warning: Option<String>,
}

impl IntegrationView {
    pub fn new(state: &AppState, provider: &dyn Provider, row: Option<&IntegrationRow>) -> Self {
        let info = provider.info();
        IntegrationView {
            kind: info.kind,
            name: info.title,
            configured: row.is_some(),
            redirect_url: redirect_url(&state.web.public_url, info),
            host: row.map(|r| r.host.clone()),
            client_id: row.map(|r| r.client_id.clone()),
            client_secret_set: row.is_some(),
            secret_updated_at: row.map(|r| rfc3339(r.secret_updated_at)),
            scopes: row.map(|r| r.scopes.clone()),
            status: row.map_or("not_configured", |r| r.status.as_str()),
            updated_at: row.map(|r| rfc3339(r.updated_at)),
            updated_by: row.map(|r| r.updated_by.clone()),
            refresh_token_lifetime_minutes: row
                .map_or(default_lifetimes(provider).refresh_ttl_minutes, |r| {
                    r.refresh_ttl_minutes
                }),
            absolute_session_lifetime_minutes: row
                .map_or(default_lifetimes(provider).absolute_lifetime_minutes, |r| {
                    r.absolute_lifetime_minutes
                }),
            default_project: row.and_then(|r| r.default_compute.clone()),
            additional_hosts: vec![],
            setup_warning: row.and_then(|r| r.setup_warning.clone()),
        }
    }

    /// The same with the workspaces added to the integration.
    pub async fn with_hosts(
        state: &AppState,
        provider: &dyn Provider,
        row: Option<&IntegrationRow>,
    ) -> ApiResult<Self> {
        let mut view = Self::new(state, provider, row);
        if let Some(r) = row {
            view.additional_hosts = state
                .store
                .integration_hosts(&r.id)
                .await?
                .into_iter()
                .map(|h| h.host)
                .collect();
        }
        Ok(view)
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Listed {
    kind: &'static str,
    name: &'static str,
    description: &'static str,
    configured: bool,
    status: &'static str,
}

async fn list(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<ApiJson<Vec<Listed>>> {
    let mut out = Vec::new();
    for provider in providers::ALL {
        let info = provider.info();
        let row = state
            .services
            .integrations
            .get(*provider, &p.org.id)
            .await?;
        out.push(Listed {
            kind: info.kind,
            name: info.title,
            description: info.description,
            configured: row.is_some(),
            status: row.map_or("not_configured", |r| r.status.as_str()),
        });
    }
    Ok(ApiJson(out))
}

async fn show(
    State(state): State<AppState>,
    route: MatchedPath,
    Auth(p): Auth,
) -> ApiResult<ApiJson<IntegrationView>> {
    let provider = provider_of(&route)?;
    let row = state.services.integrations.get(provider, &p.org.id).await?;
    Ok(ApiJson(
        IntegrationView::with_hosts(&state, provider, row.as_ref()).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PutBody {
    /// The workspace or account host (`dbc-….cloud.databricks.com`, a Snowflake account
    /// URL or identifier); other hosts only where the operator's `[egress]` allows them.
    /// Lakegate checks the host's OAuth endpoints before saving. BigQuery has none: Google's
    /// endpoints are fixed.
    #[serde(default)]
    #[schemars(length(min = 1, max = 300))]
    host: Option<String>,
    #[schemars(
        length(max = 200),
        regex(pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f]+\s*$")
    )]
    client_id: String,
    /// Required the first time and whenever the host changes.
    #[schemars(length(max = 1000), regex(pattern = rules::PRINTABLE))]
    client_secret: Option<String>,
    /// Space- or comma-separated; must include `offline_access` and `all-apis` or `sql`.
    scopes: Option<String>,
    /// As configured on the Databricks app connection (default 10080, i.e. 7 days).
    #[serde(default, deserialize_with = "rules::whole_number")]
    #[schemars(range(min = 5, max = 129_600))]
    refresh_token_lifetime_minutes: Option<i64>,
    /// 0 or absent: none.
    #[serde(default, deserialize_with = "rules::whole_number")]
    #[schemars(range(min = 0, max = 5_256_000))]
    absolute_session_lifetime_minutes: Option<i64>,
    /// Snowflake: the integration's OAUTH_REFRESH_TOKEN_VALIDITY (default 7776000, 90 days).
    #[serde(default, deserialize_with = "rules::whole_number")]
    #[schemars(range(min = 86_400, max = 7_776_000))]
    refresh_token_validity_seconds: Option<i64>,
    /// Snowflake: the role connections use unless they name one (case-sensitive).
    #[serde(default)]
    #[schemars(length(min = 1, max = 255), regex(pattern = rules::PRINTABLE))]
    default_role: Option<String>,
    /// BigQuery: the billing project new connections start with; blank clears it.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    default_project: Option<String>,
}

/// Lifetimes from a request: `None` when neither was given (keep what is stored).
pub fn lifetimes_from(
    provider: &dyn Provider,
    refresh: Option<i64>,
    absolute: Option<i64>,
) -> Option<TokenLifetimes> {
    if refresh.is_none() && absolute.is_none() {
        return None;
    }
    Some(TokenLifetimes {
        refresh_ttl_minutes: refresh.unwrap_or(default_lifetimes(provider).refresh_ttl_minutes),
        absolute_lifetime_minutes: absolute.filter(|a| *a > 0),
    })
}

/// Snowflake's own settings: OAUTH_REFRESH_TOKEN_VALIDITY (absolute from sign-in, so both
/// lifetimes) and the default role (its session scope). Other providers refuse them.
fn snowflake_settings(
    provider: &dyn Provider,
    validity_seconds: Option<i64>,
    default_role: Option<&str>,
) -> ApiResult<(Option<TokenLifetimes>, Option<String>)> {
    if provider.info().id != "snowflake" {
        if validity_seconds.is_some() || default_role.is_some() {
            return Err(ApiError::bad_request(
                "refresh_token_validity_seconds and default_role are Snowflake settings",
            ));
        }
        return Ok((None, None));
    }
    let lifetimes = validity_seconds.map(|v| TokenLifetimes {
        refresh_ttl_minutes: v / 60,
        absolute_lifetime_minutes: Some(v / 60),
    });
    let scopes = match default_role {
        Some(r) => {
            let role =
                providers::snowflake::scopes::check_role(r).map_err(ApiError::bad_request)?;
            Some(providers::snowflake::scopes::for_role(Some(&role)))
        }
        None => None,
    };
    Ok((lifetimes, scopes))
}

async fn put(
    State(state): State<AppState>,
    route: MatchedPath,
    Auth(p): Auth,
    Audit(actor): Audit,
    ApiJson(body): ApiJson<PutBody>,
) -> ApiResult<ApiJson<IntegrationView>> {
    let provider = provider_of(&route)?;
    let (validity, role_scopes) = snowflake_settings(
        provider,
        body.refresh_token_validity_seconds,
        body.default_role.as_deref(),
    )?;
    let host = match (provider.info().hosts, body.host) {
        (providers::HostPolicy::AdminTyped, None) => {
            return Err(ApiError::bad_request("host is required"));
        }
        (_, host) => host.unwrap_or_default(),
    };
    // The default billing project is BigQuery's; other providers have no such setting.
    if body.default_project.is_some() && provider.info().id != "bigquery" {
        return Err(ApiError::bad_request(
            "default_project is a BigQuery setting",
        ));
    }
    let input = SaveInput {
        default_compute: body.default_project,
        host,
        client_id: body.client_id,
        // Leave it out to keep the stored one; an empty one is a mistake, not "unchanged".
        client_secret: match body.client_secret {
            Some(s) if s.trim().is_empty() => {
                return Err(ApiError::bad_request(
                    "client_secret must not be empty: leave it out to keep the stored one",
                ));
            }
            other => other.map(Secret::new),
        },
        scopes: role_scopes.or(body.scopes),
        lifetimes: validity.or_else(|| {
            lifetimes_from(
                provider,
                body.refresh_token_lifetime_minutes,
                body.absolute_session_lifetime_minutes,
            )
        }),
    };
    let row = state
        .services
        .integrations
        .save(provider, &actor, &p.org.id, input)
        .await?;
    Ok(ApiJson(
        IntegrationView::with_hosts(&state, provider, Some(&row)).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    route: MatchedPath,
    Auth(p): Auth,
    Audit(actor): Audit,
) -> ApiResult<StatusCode> {
    let provider = provider_of(&route)?;
    state
        .services
        .integrations
        .delete(provider, &actor, &p.org.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
