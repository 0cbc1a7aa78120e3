//! Every job matching a filter, read through one cursor in `_id` order so an export of any
//! size holds one cursor batch at a time (and the server sorts by its primary index, in
//! constant memory too).

use futures_util::{Stream, StreamExt};
use mongodb::bson::{Document, doc};

use super::jobs_query::{JobFilter, JobView, hidden_fields};
use super::{JOBS, Store};
use crate::store::{StoreError, decode};

impl Store {
    /// The matching jobs, each as the API serves it (description included), in `_id` order.
    /// `batch_size` documents are fetched per round trip; nothing else is held.
    pub async fn export_jobs(
        &self,
        filter: &JobFilter,
        batch_size: u32,
    ) -> Result<impl Stream<Item = Result<JobView, StoreError>> + Send + use<>, StoreError> {
        let cursor = self
            .coll(JOBS)
            .find(filter.to_doc())
            .sort(doc! {"_id": 1})
            .projection(hidden_fields(false))
            .batch_size(batch_size)
            .await?;
        Ok(cursor.map(|d: Result<Document, mongodb::error::Error>| decode(d?)))
    }
}
