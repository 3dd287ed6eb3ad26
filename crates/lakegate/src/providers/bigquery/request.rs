//! The `jobs.query` request for a statement: standard SQL, Lakegate's query id as
//! `requestId`, microsecond timestamps, the location and default dataset, and named
//! parameters typed for BigQuery. Pure.

use serde_json::{Value, json};

use super::rest::CHUNK_ROWS;
use crate::warehouse::model::Parameter;
use crate::warehouse::{Submit, WarehouseError};

fn parameter_type(p: &Parameter) -> Result<&'static str, WarehouseError> {
    let t = p
        .type_name
        .as_deref()
        .unwrap_or("STRING")
        .to_ascii_uppercase();
    let base = t.split('(').next().unwrap_or("").trim().to_owned();
    Ok(match base.as_str() {
        "STRING" => "STRING",
        "INT" | "INTEGER" | "BIGINT" | "LONG" | "SMALLINT" | "TINYINT" | "INT64" => "INT64",
        "DOUBLE" | "FLOAT" | "FLOAT64" => "FLOAT64",
        "DECIMAL" | "NUMERIC" => "NUMERIC",
        "BIGNUMERIC" => "BIGNUMERIC",
        "BOOLEAN" | "BOOL" => "BOOL",
        "DATE" => "DATE",
        "TIMESTAMP" => "TIMESTAMP",
        "DATETIME" | "TIMESTAMP_NTZ" => "DATETIME",
        other => {
            return Err(WarehouseError::Upstream {
                status: 400,
                message: format!(
                    "parameter {} has a type BigQuery parameters cannot take: {other}",
                    p.name
                ),
            });
        }
    })
}

/// The `jobs.query` request for `req`.
pub(super) fn query_body(req: &Submit<'_>) -> Result<Value, WarehouseError> {
    let mut body = json!({
        "query": req.statement,
        "useLegacySql": false,
        "requestId": req.request_id,
        "timeoutMs": u64::from(req.wait_seconds) * 1000,
        "maxResults": CHUNK_ROWS,
        "formatOptions": {"useInt64Timestamp": true},
    });
    if let Some(location) = req.location {
        body["location"] = json!(location);
    }
    if let Some(dataset) = req.schema {
        body["defaultDataset"] =
            json!({"projectId": req.catalog.unwrap_or(req.compute_id), "datasetId": dataset});
    }
    if !req.parameters.is_empty() {
        let params = req
            .parameters
            .iter()
            .map(|p| {
                Ok(
                    json!({"name": p.name, "parameterType": {"type": parameter_type(p)?},
                          "parameterValue": {"value": p.value}}),
                )
            })
            .collect::<Result<Vec<_>, WarehouseError>>()?;
        body["parameterMode"] = json!("NAMED");
        body["queryParameters"] = json!(params);
    }
    Ok(body)
}
