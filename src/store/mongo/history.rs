//! Read-side queries of `import_logs` for the API and the WebSocket: keyset pages (a cursor
//! that stays stable while new runs arrive), sorting by failures, and "what changed since".

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde::{Deserialize, Serialize};

use super::runs::RunFilter;
use super::{IMPORT_LOGS, Store};
use crate::domain::ImportRun;
use crate::domain::events::HistoryPage;
use crate::store::{StoreError, decode};

/// Reads give up after this long, so a pathological query cannot pin the server.
pub const QUERY_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunSort {
    /// Newest first.
    #[default]
    Date,
    /// Most failed items first, then newest.
    Failures,
}

impl RunSort {
    /// The sort keys, all descending; `_id` last so the order is total.
    fn keys(self) -> &'static [&'static str] {
        match self {
            RunSort::Date => &["importDateTime", "_id"],
            RunSort::Failures => &["failedJobs", "importDateTime", "_id"],
        }
    }
}

/// Where a page ended: the sort-key values of its last row. Opaque to clients (hex JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub failed: Option<i64>,
    pub date: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 1024 {
            return None;
        }
        serde_json::from_slice(&hex::decode(raw).ok()?).ok()
    }
    fn of(run: &ImportRun) -> Self {
        Self {
            failed: Some(run.failed_jobs),
            date: crate::domain::time::format(&run.import_date_time),
            id: run.id.clone(),
        }
    }
    fn values(&self, sort: RunSort) -> Option<Vec<Bson>> {
        let (date, id) = (
            Bson::String(self.date.clone()),
            Bson::String(self.id.clone()),
        );
        Some(match sort {
            RunSort::Date => vec![date, id],
            RunSort::Failures => vec![Bson::Int64(self.failed?), date, id],
        })
    }
}

/// Rows strictly after `values` in a descending order over `keys`:
/// `k1 < v1 OR (k1 = v1 AND k2 < v2) OR ...`.
pub(crate) fn after(keys: &[&str], values: &[Bson]) -> Document {
    let mut or = Vec::new();
    for (i, (key, value)) in keys.iter().zip(values).enumerate() {
        let mut clause: Document = keys
            .iter()
            .zip(values)
            .take(i)
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        clause.insert(*key, doc! {"$lt": value.clone()});
        or.push(Bson::Document(clause));
    }
    doc! {"$or": or}
}

/// A page of runs with an opaque cursor to the next one (absent on the last page).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    #[serde(flatten)]
    pub page: HistoryPage,
    pub next_cursor: Option<String>,
}

/// Fields left out of lists: per-batch bookkeeping and the failure list can be large.
fn list_projection() -> Document {
    doc! {"batches": 0, "failures": 0}
}

pub struct RunQuery {
    pub filter: RunFilter,
    pub sort: RunSort,
    pub page: u64,
    pub limit: u64,
    pub cursor: Option<Cursor>,
}

impl Store {
    /// A page of runs with the total; with a cursor, the rows after it (and `page` is ignored).
    pub async fn query_runs(&self, q: &RunQuery) -> Result<RunPage, StoreError> {
        let coll = self.coll(IMPORT_LOGS);
        let base = q.filter.to_doc();
        let total = match self.counted_runs(&base).await? {
            Some(n) => n,
            None => {
                coll.count_documents(base.clone())
                    .max_time(QUERY_MAX_TIME)
                    .await?
            }
        };
        let keys = q.sort.keys();
        let mut sort = Document::new();
        for k in keys {
            sort.insert(*k, -1);
        }
        let mut filter = base;
        let mut skip = q.page.saturating_sub(1) * q.limit;
        if let Some(c) = &q.cursor {
            let values = c.values(q.sort).ok_or_else(|| {
                StoreError::Decode("the cursor belongs to another sort order".into())
            })?;
            filter = doc! {"$and": [filter, after(keys, &values)]};
            skip = 0;
        }
        let upto = q.page.max(1) * q.limit;
        let from_feed = if self.compat().queries_scan()
            && q.cursor.is_none()
            && q.sort == RunSort::Date
            && filter.is_empty()
            && upto <= super::run_feed::FEED_PAGE_RUNS
        {
            self.newest_runs(upto as usize, total).await?
        } else {
            None
        };
        let items = match from_feed {
            Some(runs) => runs.into_iter().skip(skip as usize).collect(),
            None => {
                let docs: Vec<Document> = coll
                    .find(filter)
                    .sort(sort)
                    .skip(skip)
                    .limit(q.limit as i64)
                    .projection(list_projection())
                    .max_time(QUERY_MAX_TIME)
                    .await?
                    .try_collect()
                    .await?;
                docs.into_iter()
                    .map(decode)
                    .collect::<Result<Vec<ImportRun>, _>>()?
            }
        };
        let next_cursor = (items.len() as u64 == q.limit)
            .then(|| items.last().map(|r| Cursor::of(r).encode()))
            .flatten();
        Ok(RunPage {
            page: HistoryPage {
                items,
                total,
                page: q.page,
                limit: q.limit,
            },
            next_cursor,
        })
    }

    /// Runs changed at or after `since` (their `updatedAt`), oldest change first, without
    /// batches or failures.
    pub async fn runs_changed_since(
        &self,
        since: &str,
        limit: u64,
    ) -> Result<Vec<ImportRun>, StoreError> {
        let docs: Vec<Document> = self
            .coll(IMPORT_LOGS)
            .find(doc! {"updatedAt": {"$gte": since}})
            .sort(doc! {"updatedAt": 1, "_id": 1})
            .limit(limit as i64)
            .projection(list_projection())
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(decode).collect()
    }

    /// The runs among `ids` (without batches or failures).
    pub async fn runs_by_ids(&self, ids: &[String]) -> Result<Vec<ImportRun>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .coll(IMPORT_LOGS)
            .find(doc! {"_id": {"$in": ids}})
            .projection(list_projection())
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(decode).collect()
    }

    /// Source ids with a run queued or running. On a server whose queries scan (FerretDB, see
    /// `compat`), from the run counters once they cover every run: a source with more runs
    /// created than ended.
    pub async fn active_source_ids(&self) -> Result<Vec<String>, StoreError> {
        if self.compat().queries_scan() && self.run_counts_ready().await? {
            return Ok(self
                .run_counts_by_source()
                .await?
                .into_iter()
                .filter(|(_, c)| c.active() > 0)
                .map(|(id, _)| id)
                .collect());
        }
        let docs: Vec<Document> = self
            .coll(IMPORT_LOGS)
            .find(doc! {"status": {"$in": ["queued", "running"]}})
            .projection(doc! {"sourceId": 1})
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut ids: Vec<String> = docs
            .iter()
            .filter_map(|d| d.get_str("sourceId").ok().map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The index `runs_changed_since` relies on; idempotent.
    pub async fn ensure_history_indexes(&self) -> Result<(), StoreError> {
        self.coll(IMPORT_LOGS)
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! {"updatedAt": 1})
                    .build(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            failed: Some(3),
            date: "2026-01-01T00:00:00.000Z".into(),
            id: "r1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("zz"), None);
        assert_eq!(Cursor::decode(&hex::encode(b"{\"$gt\":1}")), None);
    }

    #[test]
    fn keyset_condition_compares_keys_in_order() {
        let d = after(&["a", "b"], &[Bson::Int64(1), Bson::String("x".into())]);
        assert_eq!(
            d,
            doc! {"$or": [{"a": {"$lt": 1_i64}}, {"a": 1_i64, "b": {"$lt": "x"}}]}
        );
    }
}
