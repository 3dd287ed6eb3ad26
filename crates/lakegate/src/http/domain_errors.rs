//! Every domain error's HTTP form, in one place: which status and code each failure of
//! the store, accounts, API tokens, connections, integrations and queries answers with.

use axum::http::StatusCode;

use super::error::ApiError;
use crate::accounts::service::AccountError;
use crate::auth::api_token::TokenError;
use crate::auth::service_key::ServiceKeyError;
use crate::connections::ConnectionError;
use crate::integrations::IntegrationError;
use crate::providers::DiscoveryError;
use crate::queries::QueryError;
use crate::store::StoreError;

/// What a caller is told to wait when the warehouse keeps answering 429.
const BUSY_RETRY_AFTER_SECONDS: i64 = 5;
use crate::warehouse::WarehouseError;
use crate::webhooks::service::WebhookError;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid(m) => ApiError::bad_request(m),
            WebhookError::NotFound => ApiError::not_found("webhook"),
            WebhookError::NoDelivery => ApiError::not_found("finished delivery"),
            WebhookError::Crypto(c) => ApiError::internal(c),
            WebhookError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("already exists ({what})"),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(m) => ApiError::bad_request(m),
            AccountError::NotFound(what) => ApiError::not_found(what),
            AccountError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            e @ AccountError::LastAdmin => {
                ApiError::new(StatusCode::CONFLICT, "last_admin", e.to_string())
            }
            AccountError::Store(s) => s.into(),
            AccountError::Password(p) => ApiError::internal(p),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid(m) => ApiError::bad_request(m),
            TokenError::NotFound => ApiError::not_found("API token"),
            TokenError::Store(s) => s.into(),
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        let msg = e.to_string();
        match e {
            ConnectionError::Invalid(m) => ApiError::bad_request(m),
            ConnectionError::NotFound => ApiError::not_found("connection"),
            ConnectionError::NoIntegration => {
                ApiError::new(StatusCode::CONFLICT, "integration_not_configured", msg)
            }
            ConnectionError::Forbidden(m) => ApiError::forbidden(m),
            ConnectionError::Rejected(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "credentials_rejected",
                msg,
            ),
            ConnectionError::NotSignedIn => {
                ApiError::new(StatusCode::CONFLICT, "not_signed_in", msg)
            }
            ConnectionError::ReauthRequired(_) => {
                ApiError::new(StatusCode::CONFLICT, "reauth_required", msg)
            }
            ConnectionError::Unavailable { retry_after, .. } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable", msg)
            },
            ConnectionError::ClockSkew(_) => ApiError {
                retry_after: Some(30),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "clock_skew", msg)
            },
            ConnectionError::Interrupted(point) => ApiError::internal(point),
            ConnectionError::Warehouse(WarehouseError::TokenRejected(_)) => {
                ApiError::new(StatusCode::CONFLICT, "reauth_required", msg)
            }
            // The codes keep the first provider's name: they are part of the API contract.
            ConnectionError::Warehouse(
                WarehouseError::PermissionDenied(_) | WarehouseError::NotFound(_),
            ) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "databricks_denied", msg),
            // The warehouse refused the request itself (a bad warehouse id, an unknown option).
            ConnectionError::Warehouse(WarehouseError::Upstream { status, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "databricks_rejected", msg)
            }
            // Still turned away after Lakegate's own retries: the caller may try again later.
            ConnectionError::Warehouse(WarehouseError::Upstream { status: 429, .. }) => ApiError {
                retry_after: Some(BUSY_RETRY_AFTER_SECONDS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "warehouse_busy", msg)
            },
            ConnectionError::Warehouse(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", msg)
            }
            ConnectionError::Integration(i) => i.into(),
            ConnectionError::Crypto(c) => ApiError::internal(c),
            ConnectionError::Store(s) => s.into(),
        }
    }
}

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::Invalid(m) => ApiError::bad_request(m),
            e @ IntegrationError::SecretRequired => ApiError::bad_request(e.to_string()),
            IntegrationError::NotConfigured => ApiError::not_found("integration"),
            e @ IntegrationError::UnknownHost(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            e @ IntegrationError::RedirectNotRegistered { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "redirect_url_not_registered",
                e.to_string(),
            ),
            // The host the admin entered cannot be reached: a problem with the value sent
            // (422 like the other discovery failures), not a fault of this server.
            IntegrationError::Discovery(d @ DiscoveryError::Unreachable(_)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "upstream_unreachable",
                format!("discovery failed: {d}"),
            ),
            IntegrationError::Discovery(d @ DiscoveryError::ClientRejected(_)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_rejected",
                d.to_string(),
            ),
            IntegrationError::Discovery(d) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "discovery_failed",
                format!("discovery failed: {d}"),
            ),
            IntegrationError::Crypto(c) => ApiError::internal(c),
            IntegrationError::Store(s) => s.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let msg = e.to_string();
        match e {
            QueryError::Invalid(m) => ApiError::bad_request(m),
            QueryError::NotFound => ApiError::not_found("query"),
            QueryError::Failed {
                error_code,
                sql_state,
                ..
            } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_failed", msg)
                .with("databricks_error_code", error_code)
                .with("sql_state", sql_state),
            QueryError::Canceled => ApiError::new(StatusCode::CONFLICT, "query_cancelled", msg),
            QueryError::Expired => ApiError::new(StatusCode::GONE, "result_expired", msg),
            QueryError::TimedOut(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "query_timeout", msg)
            }
            QueryError::NotAcceptable(_) => {
                ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", msg)
            }
            QueryError::Connection(c) => c.into(),
            QueryError::Store(s) => s.into(),
        }
    }
}

impl From<ServiceKeyError> for ApiError {
    fn from(e: ServiceKeyError) -> Self {
        match e {
            ServiceKeyError::Invalid(m) => ApiError::bad_request(m),
            ServiceKeyError::NotFound => ApiError::not_found("service key"),
            ServiceKeyError::Store(s) => s.into(),
        }
    }
}

impl From<crate::sso::SsoError> for ApiError {
    fn from(e: crate::sso::SsoError) -> Self {
        use crate::sso::SsoError;
        match e {
            SsoError::Invalid(m) => ApiError::bad_request(m),
            SsoError::NotConfigured => ApiError::not_found("single sign-on configuration"),
            SsoError::Store(s) => s.into(),
            SsoError::Crypto(c) => ApiError::internal(c),
        }
    }
}
