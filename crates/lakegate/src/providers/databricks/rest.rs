//! Databricks' REST API as a [`WarehouseApi`]: SCIM `Me`, SQL warehouses, Unity Catalog
//! listings and the Statement Execution API 2.0, over the guarded egress client. Errors
//! follow Databricks' own forms: a 401, or a 403 whose message is about the token, means
//! the access token is no good; any other 403 is a real permission error.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::egress::{self, Egress};
use crate::warehouse::{
    Chunk, Compute, Identity, Parameter, Statement, Submit, WarehouseApi, WarehouseError,
};

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
pub fn classify(status: u16, body: &[u8]) -> WarehouseError {
    let message = error_message(body);
    let about_token = {
        let m = message.to_lowercase();
        m.contains("access token") || m.contains("expir") || m.contains("token is")
    };
    match status {
        401 => WarehouseError::TokenRejected(message),
        403 if about_token => WarehouseError::TokenRejected(message),
        403 => WarehouseError::PermissionDenied(message),
        404 => WarehouseError::NotFound(message),
        _ => WarehouseError::Upstream { status, message },
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
    async fn call_as<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<T, WarehouseError> {
        let url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|_| WarehouseError::Malformed)?;
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
        serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, WarehouseError> {
        self.call_as(method, path, token, body).await
    }

    async fn get(&self, path: &str, token: &str) -> Result<Value, WarehouseError> {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// SCIM `Me`: who the token belongs to.
    async fn scim_me(&self, token: &str) -> Result<Identity, WarehouseError> {
        let v = self.get("/api/2.0/preview/scim/v2/Me", token).await?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Identity {
            id: text("id").ok_or(WarehouseError::Malformed)?,
            user_name: text("userName").ok_or(WarehouseError::Malformed)?,
            display_name: text("displayName").unwrap_or_default(),
        })
    }

    async fn warehouses(&self, token: &str) -> Result<Vec<Compute>, WarehouseError> {
        let v = self.get("/api/2.0/sql/warehouses", token).await?;
        serde_json::from_value(v.get("warehouses").cloned().unwrap_or_else(|| json!([])))
            .map_err(|_| WarehouseError::Malformed)
    }

    async fn warehouse(&self, token: &str, id: &str) -> Result<Compute, WarehouseError> {
        let v = self
            .get(&format!("/api/2.0/sql/warehouses/{}", encode(id)), token)
            .await?;
        serde_json::from_value(v).map_err(|_| WarehouseError::Malformed)
    }

    /// Every item of a Unity Catalog listing, following `next_page_token` until it is absent.
    async fn all_pages(
        &self,
        path: &str,
        key: &str,
        token: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
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
        Err(WarehouseError::Malformed)
    }

    async fn uc_catalogs(&self, token: &str) -> Result<Vec<String>, WarehouseError> {
        Ok(names(
            self.all_pages("/api/2.1/unity-catalog/catalogs", "catalogs", token)
                .await?,
        ))
    }

    async fn uc_schemas(&self, token: &str, catalog: &str) -> Result<Vec<String>, WarehouseError> {
        let path = format!(
            "/api/2.1/unity-catalog/schemas?catalog_name={}",
            encode(catalog)
        );
        Ok(names(self.all_pages(&path, "schemas", token).await?))
    }

    async fn uc_tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
        let path = format!(
            "/api/2.1/unity-catalog/tables?catalog_name={}&schema_name={}",
            encode(catalog),
            encode(schema)
        );
        self.all_pages(&path, "tables", token).await
    }

    /// Runs `SELECT 1` on a warehouse (the connection test); Ok when it succeeded.
    async fn run_select_one(&self, token: &str, warehouse_id: &str) -> Result<(), WarehouseError> {
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
            Some(state) => Err(WarehouseError::Upstream {
                status: 200,
                message: v
                    .pointer("/status/error/message")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("the statement ended {state}"), str::to_owned),
            }),
            None => Err(WarehouseError::Malformed),
        }
    }
}

/// The Statement Execution API's request body.
#[derive(Serialize)]
struct SubmitBody<'a> {
    warehouse_id: &'a str,
    statement: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    parameters: &'a [Parameter],
    #[serde(skip_serializing_if = "Option::is_none")]
    row_limit: Option<u64>,
    wait_timeout: String,
    /// Always CONTINUE: Lakegate polls and enforces its own time limit.
    on_wait_timeout: &'static str,
    disposition: &'static str,
    format: &'static str,
}

impl<'a> From<&'a Submit<'a>> for SubmitBody<'a> {
    fn from(s: &'a Submit<'a>) -> Self {
        SubmitBody {
            warehouse_id: s.compute_id,
            statement: s.statement,
            catalog: s.catalog,
            schema: s.schema,
            parameters: s.parameters,
            row_limit: s.row_limit,
            wait_timeout: format!("{}s", s.wait_seconds),
            on_wait_timeout: "CONTINUE",
            // Databricks serves ARROW_STREAM only as EXTERNAL_LINKS.
            disposition: if s.external_links || s.arrow {
                "EXTERNAL_LINKS"
            } else {
                "INLINE"
            },
            format: if s.arrow {
                "ARROW_STREAM"
            } else {
                "JSON_ARRAY"
            },
        }
    }
}

#[async_trait]
impl WarehouseApi for Workspace<'_> {
    async fn me(&self, token: &str) -> Result<Identity, WarehouseError> {
        self.scim_me(token).await
    }

    async fn computes(&self, token: &str) -> Result<Vec<Compute>, WarehouseError> {
        self.warehouses(token).await
    }

    async fn compute(&self, token: &str, id: &str) -> Result<Compute, WarehouseError> {
        self.warehouse(token, id).await
    }

    async fn catalogs(&self, token: &str) -> Result<Vec<String>, WarehouseError> {
        self.uc_catalogs(token).await
    }

    async fn schemas(&self, token: &str, catalog: &str) -> Result<Vec<String>, WarehouseError> {
        self.uc_schemas(token, catalog).await
    }

    async fn tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
        self.uc_tables(token, catalog, schema).await
    }

    async fn select_one(&self, token: &str, compute_id: &str) -> Result<(), WarehouseError> {
        self.run_select_one(token, compute_id).await
    }

    async fn submit(&self, token: &str, req: &Submit<'_>) -> Result<Statement, WarehouseError> {
        let body =
            serde_json::to_value(SubmitBody::from(req)).map_err(|_| WarehouseError::Malformed)?;
        self.call_as(
            reqwest::Method::POST,
            "/api/2.0/sql/statements",
            token,
            Some(&body),
        )
        .await
    }

    async fn statement(&self, token: &str, id: &str) -> Result<Statement, WarehouseError> {
        let path = format!("/api/2.0/sql/statements/{}", encode(id));
        self.call_as(reqwest::Method::GET, &path, token, None).await
    }

    async fn chunk(&self, token: &str, id: &str, index: u64) -> Result<Chunk, WarehouseError> {
        let path = format!(
            "/api/2.0/sql/statements/{}/result/chunks/{index}",
            encode(id)
        );
        self.call_as(reqwest::Method::GET, &path, token, None).await
    }

    async fn cancel(&self, token: &str, id: &str) -> Result<(), WarehouseError> {
        let path = format!("/api/2.0/sql/statements/{}/cancel", encode(id));
        self.call(reqwest::Method::POST, &path, token, None)
            .await
            .map(|_| ())
    }
}

fn names(items: Vec<Value>) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn encode(s: &str) -> String {
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
            WarehouseError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(
                403,
                br#"{"message":"Token is expiring within 30 seconds. (token expired)"}"#
            ),
            WarehouseError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(401, b"{}"),
            WarehouseError::TokenRejected(_)
        ));
        assert!(matches!(
            classify(
                403,
                br#"{"error_code":"PERMISSION_DENIED","message":"no USE CATALOG"}"#
            ),
            WarehouseError::PermissionDenied(_)
        ));
        assert!(matches!(
            classify(503, b"oops"),
            WarehouseError::Upstream { status: 503, .. }
        ));
    }

    #[test]
    fn the_request_body_is_what_databricks_expects() {
        let params = [Parameter {
            name: "n".into(),
            value: None,
            type_name: Some("INT".into()),
        }];
        let s = Submit {
            compute_id: "w",
            statement: "SELECT :n",
            catalog: None,
            schema: Some("s"),
            parameters: &params,
            row_limit: None,
            location: None,
            wait_seconds: 10,
            external_links: false,
            arrow: false,
            request_id: "q",
        };
        let v = serde_json::to_value(SubmitBody::from(&s)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"warehouse_id":"w","statement":"SELECT :n","schema":"s",
                "parameters":[{"name":"n","value":null,"type":"INT"}],
                "wait_timeout":"10s","on_wait_timeout":"CONTINUE","disposition":"INLINE","format":"JSON_ARRAY"})
        );
    }
}
