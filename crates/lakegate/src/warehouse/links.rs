//! Result parts in cloud storage: presigned links a warehouse hands out for large results.

use url::Url;

use super::WarehouseError;
use super::model::{ExternalLink, Rows};
use crate::egress::{self, Destination, Egress};

/// Downloads the rows behind an external link from cloud storage (JSON arrays).
pub async fn download(egress: &Egress, link: &ExternalLink) -> Result<Rows, WarehouseError> {
    serde_json::from_slice(&fetch(egress, link).await?).map_err(|_| WarehouseError::Malformed)
}

/// Downloads what an external link points to from cloud storage: through the egress guard
/// (storage hosts only, public addresses, https), never with an Authorization header —
/// the URL itself is the credential.
pub async fn fetch(egress: &Egress, link: &ExternalLink) -> Result<Vec<u8>, WarehouseError> {
    let url = Url::parse(&link.external_link).map_err(|_| WarehouseError::Malformed)?;
    let headers: Vec<(String, String)> = link
        .http_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let resp = egress
        .send(egress::Request {
            destination: Destination::ResultStorage,
            headers: &headers,
            max_bytes: 256 * 1024 * 1024,
            timeout: std::time::Duration::from_secs(120),
            ..egress::Request::get(&url)
        })
        .await?;
    if resp.status != 200 {
        return Err(WarehouseError::Storage(resp.status));
    }
    Ok(resp.body)
}
