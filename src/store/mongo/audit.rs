//! The `audit_log` collection: one document per change, newest first by `at`.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde::Serialize;

use super::history::QUERY_MAX_TIME;
use super::{AUDIT_LOG, Store};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::store::{StoreError, decode, encode};

/// Filters of the audit list; typed, so nothing a client sends becomes an operator.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub source_id: Option<String>,
    pub action: Option<AuditAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

impl Store {
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.coll(AUDIT_LOG).insert_one(encode(entry)?).await?;
        Ok(())
    }

    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        page: u64,
        limit: u64,
    ) -> Result<AuditPage, StoreError> {
        let mut filter = Document::new();
        if let Some(s) = &f.source_id {
            filter.insert("sourceId", s.as_str());
        }
        if let Some(a) = f.action {
            filter.insert("action", a.as_str());
        }
        let coll = self.coll(AUDIT_LOG);
        let total = coll.count_documents(filter.clone()).await?;
        let docs: Vec<Document> = coll
            .find(filter)
            .sort(doc! {"at": -1, "_id": -1})
            .skip(page.saturating_sub(1) * limit)
            .limit(limit as i64)
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        Ok(AuditPage {
            items: docs.into_iter().map(decode).collect::<Result<_, _>>()?,
            total,
            page,
            limit,
        })
    }

    /// The index the source page's list uses; idempotent.
    pub async fn ensure_audit_indexes(&self) -> Result<(), StoreError> {
        self.coll(AUDIT_LOG)
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! {"sourceId": 1, "at": -1})
                    .build(),
            )
            .await?;
        Ok(())
    }
}
