//! BigQuery REST v2 as a [`WarehouseApi`], over the guarded egress client. A statement is a
//! query job in the connection's billing project (the compute): `jobs.query` with standard
//! SQL (`useLegacySql: false` — the REST default is legacy SQL), Lakegate's query id as
//! `requestId` (a resent request is the same job), named parameters and
//! `useInt64Timestamp`; then `getQueryResults` with the job's location. Results are cut
//! into chunks of [`CHUNK_ROWS`] rows fetched by `startIndex`, each filled by as many pages
//! as Google's page-size cap needs. Errors come in Google's envelope.

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use url::Url;

use super::answers::{JobRef, QueryResponse, classify, query_failure, statement};
use super::columns::{Field, column, rows};
use super::google::Google;
use super::request::query_body;
use crate::egress::{self, Egress};
use crate::warehouse::{
    Chunk, Compute, Identity, Rows, State, Statement, Submit, WarehouseApi, WarehouseError,
};

/// Rows per result chunk (and the most asked for per page).
pub const CHUNK_ROWS: u64 = 10_000;
/// Tables whose schemas are read at once for the catalog browser.
const TABLE_READS: usize = 8;
/// Pages followed for one listing, at most.
const MOST_PAGES: usize = 50;

pub struct BigQuery<'a> {
    egress: &'a Egress,
    google: Google,
}

/// A job as Lakegate names it: billing project, location and job id.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl<'a> BigQuery<'a> {
    /// The API at `base_url` (the integration's `api_base`).
    pub fn new(egress: &'a Egress, base_url: &str) -> Self {
        BigQuery {
            egress,
            google: Google::for_api(base_url),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<egress::Response, WarehouseError> {
        let url = Url::parse(url).map_err(|_| WarehouseError::Malformed)?;
        let req = egress::Request {
            method,
            bearer: Some(token),
            json: body,
            max_bytes: 64 * 1024 * 1024,
            ..egress::Request::get(&url)
        };
        Ok(self.egress.send(req).await?)
    }

    fn api(&self, path: &str) -> String {
        format!("{}/bigquery/v2{path}", self.google.api)
    }

    async fn get_json(&self, token: &str, path: &str) -> Result<Value, WarehouseError> {
        let resp = self
            .call(reqwest::Method::GET, &self.api(path), token, None)
            .await?;
        if resp.status != 200 {
            return Err(classify(resp.status, &resp.body));
        }
        serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)
    }

    /// Every item of a paged listing (`key` holds the items).
    async fn list_all(
        &self,
        token: &str,
        path: &str,
        key: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MOST_PAGES {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = match &page {
                Some(t) => format!("{path}{sep}pageToken={}", encode(t)),
                None => path.to_owned(),
            };
            let v = self.get_json(token, &p).await?;
            out.extend(v[key].as_array().cloned().unwrap_or_default());
            match v["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    async fn query(
        &self,
        token: &str,
        project: &str,
        body: &Value,
    ) -> Result<Statement, WarehouseError> {
        let url = self.api(&format!("/projects/{}/queries", encode(project)));
        let resp = self
            .call(reqwest::Method::POST, &url, token, Some(body))
            .await?;
        let placeholder = JobRef {
            project: project.into(),
            location: String::new(),
            job: "unstarted".into(),
        };
        statement(resp.status, &resp.body, Some(&placeholder))
    }

    fn results_url(&self, job: &JobRef, start: u64, max: u64, wait_ms: u64) -> String {
        self.api(&format!(
            "/projects/{}/queries/{}?location={}&startIndex={start}&maxResults={max}&timeoutMs={wait_ms}&formatOptions.useInt64Timestamp=true",
            encode(&job.project),
            encode(&job.job),
            encode(&job.location)
        ))
    }
}

#[async_trait]
impl WarehouseApi for BigQuery<'_> {
    /// Google's userinfo (`sub` and `email`; the sign-in checked the ID token already).
    async fn me(&self, token: &str) -> Result<Identity, WarehouseError> {
        let resp = self
            .call(reqwest::Method::GET, &self.google.userinfo, token, None)
            .await?;
        if resp.status != 200 {
            return Err(classify(resp.status, &resp.body));
        }
        let v: Value = serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)?;
        let email = v["email"]
            .as_str()
            .ok_or(WarehouseError::Malformed)?
            .to_owned();
        Ok(Identity {
            id: v["sub"]
                .as_str()
                .ok_or(WarehouseError::Malformed)?
                .to_owned(),
            display_name: v["name"]
                .as_str()
                .map_or_else(|| email.clone(), str::to_owned),
            user_name: email,
        })
    }

    /// Billing projects: those where the user has a project-level role.
    async fn computes(&self, token: &str) -> Result<Vec<Compute>, WarehouseError> {
        let projects = self
            .list_all(token, "/projects?maxResults=50", "projects")
            .await?;
        Ok(projects
            .iter()
            .filter_map(|p| {
                let id = p["projectReference"]["projectId"].as_str()?.to_owned();
                Some(Compute {
                    name: p["friendlyName"].as_str().unwrap_or(&id).to_owned(),
                    id,
                    state: "AVAILABLE".into(),
                })
            })
            .collect())
    }

    async fn catalogs(&self, token: &str) -> Result<Vec<String>, WarehouseError> {
        Ok(self
            .computes(token)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }

    async fn schemas(&self, token: &str, catalog: &str) -> Result<Vec<String>, WarehouseError> {
        let path = format!("/projects/{}/datasets", encode(catalog));
        let datasets = self.list_all(token, &path, "datasets").await?;
        Ok(datasets
            .iter()
            .filter_map(|d| {
                d["datasetReference"]["datasetId"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect())
    }

    /// Tables with their schemas (one `tables.get` each, a few at a time).
    async fn tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
        let base = format!(
            "/projects/{}/datasets/{}/tables",
            encode(catalog),
            encode(schema)
        );
        let listed = self.list_all(token, &base, "tables").await?;
        let names: Vec<String> = listed
            .iter()
            .filter_map(|t| t["tableReference"]["tableId"].as_str().map(str::to_owned))
            .collect();
        stream::iter(names)
            .map(|name| {
                let path = format!("{base}/{}", encode(&name));
                async move {
                    let t = self.get_json(token, &path).await?;
                    let fields: Vec<Field> = serde_json::from_value(t["schema"]["fields"].clone()).unwrap_or_default();
                    let columns: Vec<Value> = fields
                        .iter()
                        .map(column)
                        .map(|c| json!({"name": c.name, "type_text": c.type_text, "type_name": c.type_name}))
                        .collect();
                    Ok::<Value, WarehouseError>(json!({"name": name, "table_type": t["type"], "comment": t["description"], "columns": columns}))
                }
            })
            .buffered(TABLE_READS)
            .try_collect()
            .await
    }

    /// `SELECT SESSION_USER()` in the billing project.
    async fn select_one(&self, token: &str, compute_id: &str) -> Result<(), WarehouseError> {
        let body = json!({"query": "SELECT SESSION_USER() AS user", "useLegacySql": false, "timeoutMs": 10_000});
        let s = self.query(token, compute_id, &body).await?;
        match s.status.state {
            State::Succeeded | State::Running => Ok(()),
            _ => Err(WarehouseError::Upstream {
                status: 422,
                message: s
                    .status
                    .error
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| "the query failed".into()),
            }),
        }
    }

    async fn submit(&self, token: &str, req: &Submit<'_>) -> Result<Statement, WarehouseError> {
        self.query(token, req.compute_id, &query_body(req)?).await
    }

    /// `dryRun`: BigQuery's estimate of the bytes the query reads, from table metadata.
    async fn dry_run(&self, token: &str, req: &Submit<'_>) -> Result<Option<u64>, WarehouseError> {
        let mut body = query_body(req)?;
        body["dryRun"] = json!(true);
        if let Some(b) = body.as_object_mut() {
            b.remove("requestId");
        }
        let url = self.api(&format!("/projects/{}/queries", encode(req.compute_id)));
        let resp = self
            .call(reqwest::Method::POST, &url, token, Some(&body))
            .await?;
        if !(200..300).contains(&resp.status) {
            if let Some(e) = query_failure(resp.status, &resp.body) {
                return Err(WarehouseError::Upstream {
                    status: 422,
                    message: e.message.unwrap_or_default(),
                });
            }
            return Err(classify(resp.status, &resp.body));
        }
        let v: Value = serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)?;
        let bytes = v["totalBytesProcessed"]
            .as_str()
            .and_then(|b| b.parse().ok())
            .ok_or(WarehouseError::Malformed)?;
        Ok(Some(bytes))
    }

    async fn statement(&self, token: &str, id: &str) -> Result<Statement, WarehouseError> {
        let job = JobRef::parse(id)?;
        let url = self.results_url(&job, 0, CHUNK_ROWS, 0);
        let resp = self.call(reqwest::Method::GET, &url, token, None).await?;
        statement(resp.status, &resp.body, Some(&job))
    }

    /// Rows `index × CHUNK_ROWS` onwards, as many pages as it takes to fill the chunk.
    async fn chunk(&self, token: &str, id: &str, index: u64) -> Result<Chunk, WarehouseError> {
        let job = JobRef::parse(id)?;
        let start = index * CHUNK_ROWS;
        let mut data: Rows = Vec::new();
        loop {
            let from = start + data.len() as u64;
            let url = self.results_url(&job, from, CHUNK_ROWS - data.len() as u64, 0);
            let resp = self.call(reqwest::Method::GET, &url, token, None).await?;
            if resp.status != 200 {
                return Err(classify(resp.status, &resp.body));
            }
            let r: QueryResponse =
                serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)?;
            let total: u64 = r.total_rows.as_deref().unwrap_or("0").parse().unwrap_or(0);
            let fields = r.schema.map(|s| s.fields).unwrap_or_default();
            let got = rows(&fields, &r.rows);
            let wanted = total.saturating_sub(start).min(CHUNK_ROWS);
            if got.is_empty() && (data.len() as u64) < wanted {
                return Err(WarehouseError::Malformed);
            }
            data.extend(got);
            if data.len() as u64 >= wanted {
                return Ok(Chunk {
                    chunk_index: index,
                    data_array: data,
                    external_links: vec![],
                });
            }
        }
    }

    /// A job that already ended is as good as cancelled.
    async fn cancel(&self, token: &str, id: &str) -> Result<(), WarehouseError> {
        let job = JobRef::parse(id)?;
        let url = self.api(&format!(
            "/projects/{}/jobs/{}/cancel?location={}",
            encode(&job.project),
            encode(&job.job),
            encode(&job.location)
        ));
        let resp = self
            .call(reqwest::Method::POST, &url, token, Some(&json!({})))
            .await?;
        match resp.status {
            200..=299 => Ok(()),
            s => Err(classify(s, &resp.body)),
        }
    }
}
