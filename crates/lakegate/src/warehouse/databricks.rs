//! A small Databricks REST client over the guarded egress client. Errors follow
//! Databricks' own forms: a 401, or a 403 whose message is about the token, means the
//! access token is no good; any other 403 is a real permission error.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::egress::{self, Egress, EgressError};

#[derive(Debug, thiserror::Error)]
pub enum DatabricksError {
    #[error("Databricks did not accept the access token ({0})")]
    TokenRejected(String),
    #[error("Databricks denied access: {0}")]
    PermissionDenied(String),
    #[error("not found in Databricks: {0}")]
    NotFound(String),
    #[error("Databricks answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("Databricks answered something Lakegate cannot read")]
    Malformed,
    /// Cloud storage refused an EXTERNAL_LINKS download (403 usually: the link expired).
    #[error("downloading a result from cloud storage failed with HTTP {0}")]
    Storage(u16),
    #[error(transparent)]
    Egress(#[from] EgressError),
}

/// The signed-in user, from SCIM `Me`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub user_name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// One workspace, addressed by its base URL (`https://host`).
pub struct Workspace<'a> {
    egress: &'a Egress,
    base: String,
}

fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// Classifies a non-2xx answer.
pub fn classify(status: u16, body: &[u8]) -> DatabricksError {
    let message = error_message(body);
    let about_token = {
        let m = message.to_lowercase();
        m.contains("access token") || m.contains("expir") || m.contains("token is")
    };
    match status {
        401 => DatabricksError::TokenRejected(message),
        403 if about_token => DatabricksError::TokenRejected(message),
        403 => DatabricksError::PermissionDenied(message),
        404 => DatabricksError::NotFound(message),
        _ => DatabricksError::Upstream { status, message },
    }
}

impl<'a> Workspace<'a> {
    pub fn new(egress: &'a Egress, base_url: &str) -> Self {
        Workspace {
            egress,
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// One call; the answer parsed straight into `T` (no intermediate JSON tree, which
    /// matters for result chunks of tens of thousands of rows).
    pub(super) async fn call_as<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<T, DatabricksError> {
        let url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|_| DatabricksError::Malformed)?;
        let req = egress::Request {
            method,
            bearer: Some(token),
            json: body,
            max_bytes: 32 * 1024 * 1024,
            ..egress::Request::get(&url)
        };
        let resp = self.egress.send(req).await?;
        if !(200..300).contains(&resp.status) {
            return Err(classify(resp.status, &resp.body));
        }
        serde_json::from_slice(&resp.body).map_err(|_| DatabricksError::Malformed)
    }

    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, DatabricksError> {
        self.call_as(method, path, token, body).await
    }

    pub(super) async fn get(&self, path: &str, token: &str) -> Result<Value, DatabricksError> {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// SCIM `Me`: who the token belongs to.
    pub async fn me(&self, token: &str) -> Result<Identity, DatabricksError> {
        let v = self.get("/api/2.0/preview/scim/v2/Me", token).await?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Identity {
            id: text("id").ok_or(DatabricksError::Malformed)?,
            user_name: text("userName").ok_or(DatabricksError::Malformed)?,
            display_name: text("displayName").unwrap_or_default(),
        })
    }

    pub async fn warehouses(&self, token: &str) -> Result<Vec<Warehouse>, DatabricksError> {
        let v = self.get("/api/2.0/sql/warehouses", token).await?;
        serde_json::from_value(v.get("warehouses").cloned().unwrap_or_else(|| json!([])))
            .map_err(|_| DatabricksError::Malformed)
    }

    pub async fn warehouse(&self, token: &str, id: &str) -> Result<Warehouse, DatabricksError> {
        let v = self
            .get(&format!("/api/2.0/sql/warehouses/{}", encode(id)), token)
            .await?;
        serde_json::from_value(v).map_err(|_| DatabricksError::Malformed)
    }

    /// Every item of a Unity Catalog listing, following `next_page_token` until it is absent.
    async fn all_pages(
        &self,
        path: &str,
        key: &str,
        token: &str,
    ) -> Result<Vec<Value>, DatabricksError> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        // A hard stop so a misbehaving server cannot keep us paging forever.
        for _ in 0..1000 {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &next {
                Some(t) => format!("{path}{sep}page_token={}", encode(t)),
                None => path.to_owned(),
            };
            let page = self.get(&url, token).await?;
            if let Some(list) = page.get(key).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            match page
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                Some(t) => next = Some(t.to_owned()),
                None => return Ok(items),
            }
        }
        Err(DatabricksError::Malformed)
    }

    pub async fn catalogs(&self, token: &str) -> Result<Vec<String>, DatabricksError> {
        Ok(names(
            self.all_pages("/api/2.1/unity-catalog/catalogs", "catalogs", token)
                .await?,
        ))
    }

    pub async fn schemas(
        &self,
        token: &str,
        catalog: &str,
    ) -> Result<Vec<String>, DatabricksError> {
        let path = format!(
            "/api/2.1/unity-catalog/schemas?catalog_name={}",
            encode(catalog)
        );
        Ok(names(self.all_pages(&path, "schemas", token).await?))
    }

    pub async fn tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Value>, DatabricksError> {
        let path = format!(
            "/api/2.1/unity-catalog/tables?catalog_name={}&schema_name={}",
            encode(catalog),
            encode(schema)
        );
        self.all_pages(&path, "tables", token).await
    }

    /// Runs `SELECT 1` on a warehouse (the connection test); Ok when it succeeded.
    pub async fn select_one(&self, token: &str, warehouse_id: &str) -> Result<(), DatabricksError> {
        let body = json!({"warehouse_id": warehouse_id, "statement": "SELECT 1", "wait_timeout": "30s", "on_wait_timeout": "CANCEL"});
        let v = self
            .call(
                reqwest::Method::POST,
                "/api/2.0/sql/statements",
                token,
                Some(&body),
            )
            .await?;
        match v.pointer("/status/state").and_then(Value::as_str) {
            Some("SUCCEEDED") => Ok(()),
            Some(state) => Err(DatabricksError::Upstream {
                status: 200,
                message: v
                    .pointer("/status/error/message")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("the statement ended {state}"), str::to_owned),
            }),
            None => Err(DatabricksError::Malformed),
        }
    }
}

fn names(items: Vec<Value>) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

pub(super) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shaped_403s_mean_a_bad_token() {
        assert!(matches!(
            classify(
                403,
                br#"{"error_code":403,"message":"Invalid access token."}"#
            ),
            DatabricksError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(
                403,
                br#"{"message":"Token is expiring within 30 seconds. (token expired)"}"#
            ),
            DatabricksError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(401, b"{}"),
            DatabricksError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(
                403,
                br#"{"error_code":"PERMISSION_DENIED","message":"no USE CATALOG"}"#
            ),
            DatabricksError::PermissionDenied(_)
        ));
        assert!(matches!(
            classify(503, b"oops"),
            DatabricksError::Upstream { status: 503, .. }
        ));
    }
}
