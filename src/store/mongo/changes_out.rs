//! The `changes_webhooks` collection: one document per webhook of `changes_out` (`_id` its
//! id) with its cursor (the `seq` of the last change the receiver acknowledged) and how its
//! deliveries go. Written by the daemon holding the webhook's lease; a cursor moves only
//! from the value it was read at, so a batch sent twice (a lease that ran out) moves it once.

use mongodb::bson::{Document, doc};
use serde::Serialize;

use super::Store;
use crate::domain::time::format as ts;
use crate::store::StoreError;

pub const CHANGES_WEBHOOKS: &str = "changes_webhooks";

/// What the API shows of one webhook's deliveries.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookState {
    /// The `seq` of the last change the receiver acknowledged.
    pub cursor: i64,
    /// Failed attempts of the batch after the cursor (0 once it went out).
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
    /// Changes and batches acknowledged since the webhook was first seen.
    pub delivered_changes: i64,
    pub delivered_batches: i64,
}

fn state_from(d: &Document) -> WebhookState {
    let s = |k: &str| d.get_str(k).ok().map(str::to_owned);
    let n = |k: &str| {
        d.get_i64(k)
            .or_else(|_| d.get_i32(k).map(i64::from))
            .unwrap_or(0)
    };
    WebhookState {
        cursor: n("cursor"),
        attempts: n("attempts"),
        last_error: s("lastError"),
        next_attempt_at: s("nextAttemptAt"),
        last_delivered_at: s("lastDeliveredAt"),
        delivered_changes: n("deliveredChanges"),
        delivered_batches: n("deliveredBatches"),
    }
}

impl Store {
    /// The webhook's state, created at `start` (a cursor) when it is first seen.
    pub async fn webhook_state(&self, id: &str, start: i64) -> Result<WebhookState, StoreError> {
        let coll = self.coll(CHANGES_WEBHOOKS);
        if let Some(d) = coll.find_one(doc! {"_id": id}).await? {
            return Ok(state_from(&d));
        }
        let fresh = doc! {"_id": id, "cursor": start, "attempts": 0_i64,
        "deliveredChanges": 0_i64, "deliveredBatches": 0_i64, "createdAt": ts(&chrono::Utc::now())};
        match coll.insert_one(&fresh).await {
            Ok(_) => Ok(state_from(&fresh)),
            Err(e) if super::is_duplicate_key(&e) => Ok(coll
                .find_one(doc! {"_id": id})
                .await?
                .map(|d| state_from(&d))
                .unwrap_or_default()),
            Err(e) => Err(e.into()),
        }
    }

    /// The states of the webhooks that have one (for the API).
    pub async fn webhook_states(
        &self,
        ids: &[&str],
    ) -> Result<Vec<(String, WebhookState)>, StoreError> {
        use futures_util::TryStreamExt;
        let docs: Vec<Document> = self
            .coll(CHANGES_WEBHOOKS)
            .find(doc! {"_id": {"$in": ids}})
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), state_from(d))))
            .collect())
    }

    /// The receiver acknowledged the changes after `from` up to `to` (`sent` of them went
    /// out); false when the cursor had moved from `from` already (another daemon sent them).
    pub async fn webhook_delivered(
        &self,
        id: &str,
        from: i64,
        to: i64,
        sent: i64,
    ) -> Result<bool, StoreError> {
        let now = ts(&chrono::Utc::now());
        let mut set = doc! {"cursor": to, "attempts": 0_i64};
        let mut inc = doc! {};
        if sent > 0 {
            set.insert("lastDeliveredAt", &now);
            inc.insert("deliveredChanges", sent);
            inc.insert("deliveredBatches", 1_i64);
        }
        let mut update = doc! {"$set": set, "$unset": {"lastError": "", "nextAttemptAt": ""}};
        if !inc.is_empty() {
            update.insert("$inc", inc);
        }
        let r = self
            .coll(CHANGES_WEBHOOKS)
            .update_one(doc! {"_id": id, "cursor": from}, update)
            .await?;
        Ok(r.matched_count == 1)
    }

    /// The batch after `from` failed: noted with when it is tried again.
    pub async fn webhook_failed(
        &self,
        id: &str,
        from: i64,
        error: &str,
        next_attempt_at: &str,
    ) -> Result<(), StoreError> {
        self.coll(CHANGES_WEBHOOKS)
            .update_one(
                doc! {"_id": id, "cursor": from},
                doc! {"$set": {"lastError": error, "nextAttemptAt": next_attempt_at,
                "lastAttemptAt": ts(&chrono::Utc::now())}, "$inc": {"attempts": 1_i64}},
            )
            .await?;
        Ok(())
    }
}
