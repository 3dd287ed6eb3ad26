//! The body of a new connection (also a connect session's `connection`), the vendor-named
//! fields it may use, and creating what it describes.

use serde::Deserialize;

use crate::audit::Actor;
use crate::auth::Principal;
use crate::connections::Patch;
use crate::connections::shared::SharedSecret;
use crate::field_rules as rules;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::providers;
use crate::secret::Secret;
use crate::store::ConnectionRow;

/// A BigQuery location (letters, digits and inner hyphens), or blank for none.
pub(in crate::http::api) const LOCATION_OR_BLANK: &str =
    r"^([A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])?$";

/// A new connection (also the `connection` of a connect session).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"properties": {"provider": {"const": "databricks"}, "auth": {"const": "oauth-u2m"}, "role": false, "warehouse": false, "database": false, "project": false, "dataset": false, "location": false, "client_id": false, "client_secret": false, "token": false}},
    {"properties": {"provider": {"const": "databricks"}, "auth": {"const": "oauth-m2m"}, "role": false, "warehouse": false, "database": false, "project": false, "dataset": false, "location": false, "token": false}, "required": ["host", "client_id", "client_secret"]},
    {"properties": {"provider": {"const": "databricks"}, "auth": {"const": "pat"}, "role": false, "warehouse": false, "database": false, "project": false, "dataset": false, "location": false, "client_id": false, "client_secret": false}, "required": ["host", "token"]},
    {"properties": {"provider": {"const": "snowflake"}, "auth": {"const": "oauth"}, "project": false, "dataset": false, "location": false, "host": false, "client_id": false, "client_secret": false, "token": false}},
    {"properties": {"provider": {"const": "bigquery"}, "auth": {"const": "oauth"}, "role": false, "warehouse": false, "database": false, "host": false, "client_id": false, "client_secret": false, "token": false}}
]))]
pub(in crate::http::api) struct CreateBody {
    #[schemars(length(max = 100), regex(pattern = rules::PRINTABLE))]
    name: String,
    #[schemars(extend("enum" = ["databricks", "snowflake", "bigquery"]))]
    provider: String,
    /// `oauth-u2m`, `oauth-m2m` or `pat` for Databricks, `oauth` for Snowflake and BigQuery.
    #[schemars(extend("enum" = ["oauth-u2m", "oauth-m2m", "pat", "oauth"]))]
    auth: String,
    /// The workspace host: OAuth M2M and personal access tokens, required; OAuth U2M, one of
    /// the workspaces the admin added to the integration (blank or absent: its first).
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    host: Option<String>,
    /// OAuth M2M: the service principal's application (client) id.
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE))]
    client_id: Option<String>,
    /// OAuth M2M: the service principal's OAuth secret (write-only).
    #[schemars(length(max = 1024), regex(pattern = rules::PRINTABLE))]
    client_secret: Option<String>,
    /// A personal access token (write-only).
    #[schemars(length(max = 1024), regex(pattern = rules::PRINTABLE))]
    token: Option<String>,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse_id: Option<String>,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    catalog: Option<String>,
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    schema: Option<String>,
    /// Snowflake: the session role to sign in with (default: the integration's).
    #[schemars(length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    role: Option<String>,
    /// BigQuery: where queries are processed (`US`, `EU`, `europe-west2`; default: where
    /// the data is).
    #[schemars(length(max = 40), regex(pattern = LOCATION_OR_BLANK))]
    location: Option<String>,
    /// Snowflake's name for `warehouse_id`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    warehouse: Option<String>,
    /// Snowflake's name for `catalog`.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    database: Option<String>,
    /// BigQuery's name for `warehouse_id`: the billing project its jobs run in.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    project: Option<String>,
    /// BigQuery's name for `schema`: the default dataset.
    #[serde(default, deserialize_with = "rules::present")]
    #[schemars(with = "String", length(max = 255), regex(pattern = rules::PRINTABLE_OR_BLANK))]
    dataset: Option<String>,
    #[serde(default)]
    shared: bool,
}

/// The vendor-named fields a body gave (`providers::Words`).
pub(in crate::http::api) fn vendor_fields(
    pairs: [(&'static str, Option<String>); 4],
) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// The warehouse, catalog and schema a body names, in the provider's words or the neutral ones.
pub(in crate::http::api) fn places(
    provider: &dyn providers::Provider,
    neutral: [Option<String>; 3],
    named: Vec<(&'static str, String)>,
) -> ApiResult<[Option<String>; 3]> {
    provider
        .info()
        .words
        .places(neutral, named)
        .map_err(ApiError::bad_request)
}

/// Creates the connection `b` describes, owned by `p`'s user.
pub(in crate::http::api) async fn create_for(
    state: &AppState,
    p: &Principal,
    actor: &Actor,
    mut b: CreateBody,
) -> ApiResult<ConnectionRow> {
    let Some(provider) = providers::by_connection(&b.provider, &b.auth) else {
        return Err(ApiError::bad_request(
            "available: provider \"databricks\" with auth \"oauth-u2m\", \"oauth-m2m\" or \"pat\", provider \"snowflake\" or \"bigquery\" with auth \"oauth\"",
        ));
    };
    let shared_identity = provider.info().renewal.shared_identity();
    let secret = shared_secret(b.client_id.take(), b.client_secret.take(), b.token.take())?;
    if shared_identity != secret.is_some() || (shared_identity && b.host.is_none()) {
        return Err(ApiError::bad_request(if shared_identity {
            "give host with client_id and client_secret (oauth-m2m) or token (pat)"
        } else {
            "client_id, client_secret and token belong to oauth-m2m and pat connections; this one uses its organization's integration"
        }));
    }
    let [warehouse_id, catalog, schema] = places(
        provider,
        [b.warehouse_id, b.catalog, b.schema],
        vendor_fields([
            ("warehouse", b.warehouse),
            ("database", b.database),
            ("project", b.project),
            ("dataset", b.dataset),
        ]),
    )?;
    // Checked before anything is stored: a refused setting leaves no connection behind.
    let given = |v: &Option<String>| {
        v.as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    };
    if let Some(r) = given(&b.role) {
        provider.check_role(&r).map_err(ApiError::bad_request)?;
    }
    if let Some(l) = given(&b.location) {
        provider.check_location(&l).map_err(ApiError::bad_request)?;
    }
    let connections = &state.services.connections;
    let host = b.host.unwrap_or_default();
    let c = match secret {
        Some(secret) => {
            connections
                .create_shared(p, actor, provider, &b.name, b.shared, &host, secret)
                .await?
        }
        None => {
            connections
                .create(p, actor, provider, &b.name, b.shared, Some(&host))
                .await?
        }
    };
    if warehouse_id.is_none()
        && catalog.is_none()
        && schema.is_none()
        && b.role.is_none()
        && b.location.is_none()
    {
        return Ok(c);
    }
    let patch = Patch {
        warehouse_id,
        catalog,
        schema,
        role: b.role,
        location: b.location,
        ..Patch::default()
    };
    Ok(connections.update(p, actor, &c.id, patch).await?)
}

/// The secret of a shared identity a body gives: a service principal's id and secret, or
/// a token; `None` when it gives neither.
pub(in crate::http::api) fn shared_secret(
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
) -> ApiResult<Option<SharedSecret>> {
    match (client_id, client_secret, token) {
        (None, None, None) => Ok(None),
        (client_id, Some(secret), None) => Ok(Some(SharedSecret::M2m {
            client_id: client_id.unwrap_or_default().trim().to_owned(),
            secret: Secret::new(secret),
        })),
        (None, None, Some(token)) => Ok(Some(SharedSecret::Pat {
            token: Secret::new(token.trim().to_owned()),
        })),
        _ => Err(ApiError::bad_request(
            "give client_id with client_secret (oauth-m2m), or token (pat), not both",
        )),
    }
}
