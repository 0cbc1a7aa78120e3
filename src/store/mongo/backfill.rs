//! What a backfill keeps in MongoDB besides its batches: its walk over the pages, on the run
//! document (progress for the dashboard), and which postings of a page were stored before
//! the run began (a page of known postings ends the walk).

use mongodb::bson::doc;

use super::{JOBS, Store};
use crate::domain::{Backfill, ImportRun};
use crate::store::{StoreError, encode};

impl Store {
    /// Writes the walk so far onto the run (while its read `generation` is the current one).
    pub async fn note_backfill(
        &self,
        run_id: &str,
        generation: u32,
        walk: &Backfill,
    ) -> Result<Option<ImportRun>, StoreError> {
        self.change_run(
            run_id,
            doc! {"status": "running", "generation": i64::from(generation)},
            doc! {"$set": {"backfill": encode(walk)?}},
        )
        .await
    }

    /// How many of `ids` are jobs that were stored before run `run_id` created any.
    pub async fn count_stored_before(
        &self,
        ids: &[String],
        run_id: &str,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(self
            .coll(JOBS)
            .count_documents(doc! {"_id": {"$in": ids}, "createdByRun": {"$ne": run_id}})
            .await?)
    }
}
