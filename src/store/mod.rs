//! Adapters for MongoDB (the record of jobs, runs and sources) and Redis (queues, leases and
//! the cross-daemon event channel).

pub mod job_index;
pub mod mongo;
pub mod queue;
pub mod queue_state;
pub mod queue_view;
pub mod redis;
pub mod run_state;

pub use mongo::Store;

/// A storage failure, classified once: transient ones are retried, the rest end the work.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("queue: {0}")]
    Queue(String),
    #[error("stored document is not readable: {0}")]
    Decode(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A step against the stores did not finish within its time limit (a server that holds a
    /// request without answering); tried again like an unreachable store.
    #[error("no answer from the stores within {0:?}")]
    TimedOut(std::time::Duration),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Mongo(e) => {
                use mongodb::error::ErrorKind;
                matches!(
                    *e.kind,
                    ErrorKind::Io(_)
                        | ErrorKind::ServerSelection { .. }
                        | ErrorKind::ConnectionPoolCleared { .. }
                ) || e.contains_label("RetryableWriteError")
            }
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::BusyLoading)
            }
            StoreError::Queue(_) | StoreError::TimedOut(_) => true,
            StoreError::Decode(_) | StoreError::NotFound(_) | StoreError::Conflict(_) => false,
        }
    }

    /// The failure code shown on an import log.
    /// A read that the server ended at its time limit (`maxTimeMS`).
    pub fn is_time_limit(&self) -> bool {
        match self {
            StoreError::Mongo(e) => matches!(
                &*e.kind,
                mongodb::error::ErrorKind::Command(c) if c.code == MAX_TIME_MS_EXPIRED
            ),
            _ => false,
        }
    }

    pub fn code(&self) -> &'static str {
        use crate::domain::codes;
        match self {
            _ if self.is_time_limit() => codes::DB_QUERY_TIMEOUT,
            StoreError::Mongo(_) if self.is_transient() => codes::DB_UNAVAILABLE,
            StoreError::TimedOut(_) => codes::DB_UNAVAILABLE,
            StoreError::Mongo(_) | StoreError::Decode(_) => codes::DB_WRITE_ERROR,
            StoreError::Redis(_) | StoreError::Queue(_) => codes::QUEUE_UNAVAILABLE,
            StoreError::NotFound(_) | StoreError::Conflict(_) => codes::INTERNAL,
        }
    }
}

/// MongoDB's error code for a command that ran past its `maxTimeMS`.
const MAX_TIME_MS_EXPIRED: i32 = 50;

pub fn decode<T: serde::de::DeserializeOwned>(
    doc: mongodb::bson::Document,
) -> Result<T, StoreError> {
    mongodb::bson::from_document(doc).map_err(|e| StoreError::Decode(e.to_string()))
}

pub fn encode<T: serde::Serialize>(v: &T) -> Result<mongodb::bson::Document, StoreError> {
    mongodb::bson::to_document(v).map_err(|e| StoreError::Decode(e.to_string()))
}
