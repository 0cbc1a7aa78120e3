//! Streaming HTTP fetch with explicit limits and the SSRF policy. (Placeholder: the contract
//! only; the implementation lands with the fetch work.)

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchLimits {
    pub connect_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    pub user_agent: String,
    pub allow_private_networks: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 10_000,
            total_timeout_ms: 20_000,
            max_body_bytes: 15 * 1024 * 1024,
            max_redirects: 5,
            user_agent: format!("job-importer/{}", env!("CARGO_PKG_VERSION")),
            allow_private_networks: false,
        }
    }
}

pub struct FetchRequest {
    pub url: String,
    pub user_agent: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub max_body_bytes: Option<u64>,
}

pub enum FetchResponse {
    NotModified,
    Body(FetchBody),
}

pub struct FetchBody {
    pub final_url: url::Url,
    pub content_type: Option<String>,
    pub charset: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl FetchBody {
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, FetchError> {
        Ok(None)
    }
    pub fn bytes_read(&self) -> u64 {
        0
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub code: &'static str,
    pub message: String,
    pub transient: bool,
    pub retry_after: Option<Duration>,
    pub status: Option<u16>,
}

#[derive(Clone)]
pub struct HttpFetcher {}

impl HttpFetcher {
    pub fn new(_limits: &FetchLimits) -> Result<Self, FetchError> {
        Ok(Self {})
    }
    pub async fn fetch(&self, _req: &FetchRequest) -> Result<FetchResponse, FetchError> {
        Err(FetchError {
            code: crate::domain::codes::INTERNAL,
            message: "fetch not built yet".into(),
            transient: false,
            retry_after: None,
            status: None,
        })
    }
}
