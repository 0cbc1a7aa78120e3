//! Alert incidents and their deliveries.
//!
//! Every change of an incident is one document of `alert_incidents` whose `_id` names it:
//! `{source}:{event}:{n}:opened` opens incident `n`, `{source}:{event}:{n}:recovered` ends it.
//! A daemon reads the latest number and state, then *inserts* the next change; an insert of a
//! taken `_id` fails on every MongoDB-compatible server (a `findAndModify` matching "not open"
//! is not atomic on FerretDB 1.x), so of any number of daemons judging the same thing, one
//! opens and one recovers, and the others learn they lost. `{source}:{event}:fine` notes that
//! the event was judged fine once (a coverage drop needs coverage before it).
//!
//! The winner then inserts one delivery per channel into `alert_deliveries` (`_id`
//! `{incident}:{transition}:{channel}`, so inserting twice stores once) and marks the change
//! `queued`. A daemon that dies in between leaves `queued: false`, and the delivery loop of any
//! daemon inserts the deliveries later from the change document.
//!
//! Who sends a due delivery is decided by a Redis lease per delivery (`crate::alerts`); after
//! each attempt the delivery is marked sent, scheduled again with backoff (`nextAt`), or failed
//! after `alerts.max_attempts`.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc};

use super::{Store, as_i64};
use crate::domain::alert::{AlertEvent, AlertMessage, Transition};
use crate::domain::time::format as ts;
use crate::store::StoreError;

pub const ALERT_INCIDENTS: &str = "alert_incidents";
pub const ALERT_DELIVERIES: &str = "alert_deliveries";

/// An incident's change that this daemon won.
#[derive(Debug, Clone, PartialEq)]
pub struct Won {
    pub message: AlertMessage,
}

/// One delivery as listed (the history on a source).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(rename = "_id")]
    pub id: String,
    pub source_id: String,
    pub channel_id: String,
    pub message: AlertMessage,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    #[serde(default)]
    pub next_at: Option<String>,
    #[serde(default)]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// How an attempt went.
pub enum Attempt {
    Sent,
    Retry { error: String, at: DateTime<Utc> },
    GaveUp { error: String },
}

/// Where the incidents of one source and event stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentState {
    /// The number of the latest incident (0: none yet).
    pub n: i64,
    pub open: bool,
}

fn key_of(source_id: &str, event: AlertEvent) -> String {
    format!("{source_id}:{}", event.as_str())
}

fn message_of(d: &Document) -> Option<AlertMessage> {
    let transition = match d.get_str("transition").ok()? {
        "opened" => Transition::Opened,
        "recovered" => Transition::Recovered,
        _ => return None,
    };
    Some(AlertMessage {
        incident_id: format!("{}:{}", d.get_str("key").ok()?, as_i64(d.get("n"))),
        source_id: d.get_str("sourceId").ok()?.to_owned(),
        event: AlertEvent::parse(d.get_str("event").ok()?),
        transition,
        detail: d.get_str("detail").unwrap_or_default().to_owned(),
        run_id: d.get_str("runId").ok().map(str::to_owned),
        at: d.get_str("at").unwrap_or_default().to_owned(),
    })
}

impl Store {
    pub(crate) async fn ensure_alert_indexes(&self) -> Result<(), StoreError> {
        for keys in [doc! {"key": 1, "n": -1}, doc! {"queued": 1, "at": 1}] {
            self.coll(ALERT_INCIDENTS)
                .create_index(IndexModel::builder().keys(keys).build())
                .await?;
        }
        for keys in [
            doc! {"status": 1, "nextAt": 1},
            doc! {"sourceId": 1, "createdAt": -1},
        ] {
            self.coll(ALERT_DELIVERIES)
                .create_index(IndexModel::builder().keys(keys).build())
                .await?;
        }
        Ok(())
    }

    /// The latest incident of `event` for `source_id`, and whether it is open.
    pub async fn incident_state(
        &self,
        source_id: &str,
        event: AlertEvent,
    ) -> Result<IncidentState, StoreError> {
        let latest: Vec<Document> = self
            .coll(ALERT_INCIDENTS)
            .find(doc! {
                "key": key_of(source_id, event),
                "transition": {"$in": ["opened", "recovered"]},
            })
            .sort(doc! {"n": -1})
            .limit(2)
            .await?
            .try_collect()
            .await?;
        let Some(n) = latest.first().map(|d| as_i64(d.get("n"))) else {
            return Ok(IncidentState { n: 0, open: false });
        };
        let recovered = latest
            .iter()
            .any(|d| as_i64(d.get("n")) == n && d.get_str("transition") == Ok("recovered"));
        Ok(IncidentState {
            n,
            open: !recovered,
        })
    }

    /// Inserts change `_id` of an incident; `None` when another daemon inserted it first.
    async fn claim_change(
        &self,
        source_id: &str,
        event: AlertEvent,
        n: i64,
        transition: Transition,
        detail: &str,
        run_id: Option<&str>,
    ) -> Result<Option<Won>, StoreError> {
        let key = key_of(source_id, event);
        let d = doc! {
            "_id": format!("{key}:{n}:{}", transition.as_str()),
            "key": &key, "n": n, "transition": transition.as_str(),
            "sourceId": source_id, "event": event.as_str(), "detail": detail,
            "runId": run_id.map_or(Bson::Null, |r| Bson::String(r.to_owned())),
            "at": ts(&Utc::now()), "queued": false,
        };
        match self.coll(ALERT_INCIDENTS).insert_one(&d).await {
            Ok(_) => Ok(message_of(&d).map(|message| Won { message })),
            Err(e) if super::is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a new incident of `event` for `source_id` unless one is open. Without `first`,
    /// only an event judged fine before may open (coverage drops: "when it was there before").
    pub async fn open_incident(
        &self,
        source_id: &str,
        event: AlertEvent,
        detail: &str,
        run_id: Option<&str>,
        first: bool,
    ) -> Result<Option<Won>, StoreError> {
        let state = self.incident_state(source_id, event).await?;
        if state.open {
            return Ok(None);
        }
        if !first {
            let fine = self
                .coll(ALERT_INCIDENTS)
                .find_one(doc! {"_id": format!("{}:fine", key_of(source_id, event))})
                .await?;
            if fine.is_none() {
                return Ok(None);
            }
        }
        self.claim_change(
            source_id,
            event,
            state.n + 1,
            Transition::Opened,
            detail,
            run_id,
        )
        .await
    }

    /// Recovers the open incident of `event` for `source_id`, if any; notes either way that
    /// the event was judged fine (so a later drop may open one).
    pub async fn recover_incident(
        &self,
        source_id: &str,
        event: AlertEvent,
        detail: &str,
        run_id: Option<&str>,
    ) -> Result<Option<Won>, StoreError> {
        let key = key_of(source_id, event);
        let noted = self
            .coll(ALERT_INCIDENTS)
            .update_one(
                doc! {"_id": format!("{key}:fine")},
                doc! {"$setOnInsert": {
                    "key": &key, "transition": "fine", "sourceId": source_id,
                    "event": event.as_str(), "at": ts(&Utc::now()),
                }},
            )
            .upsert(true)
            .await;
        if let Err(e) = noted
            && !super::is_duplicate_key(&e)
        {
            return Err(e.into());
        }
        let state = self.incident_state(source_id, event).await?;
        if !state.open {
            return Ok(None);
        }
        self.claim_change(
            source_id,
            event,
            state.n,
            Transition::Recovered,
            detail,
            run_id,
        )
        .await
    }

    /// Inserts one delivery of `message` per channel (once, however often called), then marks
    /// the incident's change queued.
    pub async fn queue_deliveries(
        &self,
        message: &AlertMessage,
        channels: &[String],
    ) -> Result<(), StoreError> {
        let now = ts(&Utc::now());
        let msg =
            mongodb::bson::to_document(message).map_err(|e| StoreError::Decode(e.to_string()))?;
        for channel in channels {
            let id = format!(
                "{}:{}:{channel}",
                message.incident_id,
                message.transition.as_str()
            );
            let r = self
                .coll(ALERT_DELIVERIES)
                .insert_one(doc! {
                    "_id": &id, "sourceId": &message.source_id, "channelId": channel,
                    "message": msg.clone(), "status": "pending", "attempts": 0_i64,
                    "createdAt": &now, "nextAt": &now,
                })
                .await;
            if let Err(e) = r
                && !super::is_duplicate_key(&e)
            {
                return Err(e.into());
            }
        }
        if message.transition != Transition::Test {
            self.coll(ALERT_INCIDENTS)
                .update_one(
                    doc! {"_id": format!("{}:{}", message.incident_id, message.transition.as_str())},
                    doc! {"$set": {"queued": true}},
                )
                .await?;
        }
        Ok(())
    }

    /// Incident changes whose deliveries may not have been queued (their winner stopped in
    /// between), made before `before`.
    pub async fn incidents_pending(&self, before: &str) -> Result<Vec<AlertMessage>, StoreError> {
        let docs: Vec<Document> = self
            .coll(ALERT_INCIDENTS)
            .find(doc! {"queued": false, "at": {"$lt": before}})
            .limit(100)
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(message_of).collect())
    }

    /// The ids of up to `limit` deliveries due now, the longest waiting first.
    pub async fn due_deliveries(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        let now = ts(&Utc::now());
        let docs: Vec<Document> = self
            .coll(ALERT_DELIVERIES)
            .find(doc! {"status": "pending", "nextAt": {"$lte": &now}})
            .sort(doc! {"nextAt": 1})
            .projection(doc! {"_id": 1})
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// Delivery `id` if it is still due (read again once its lease is held: another daemon may
    /// have sent it since it was listed).
    pub async fn delivery_if_due(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let now = ts(&Utc::now());
        let d = self
            .coll(ALERT_DELIVERIES)
            .find_one(doc! {"_id": id, "status": "pending", "nextAt": {"$lte": &now}})
            .await?;
        d.map(|d| mongodb::bson::from_document(d).map_err(|e| StoreError::Decode(e.to_string())))
            .transpose()
    }

    /// Records how an attempt of a delivery (whose lease the caller holds) went.
    pub async fn finish_attempt(&self, id: &str, attempt: Attempt) -> Result<(), StoreError> {
        let now = ts(&Utc::now());
        let set = match attempt {
            Attempt::Sent => doc! {"status": "sent", "sentAt": &now},
            Attempt::Retry { error, at } => doc! {"nextAt": ts(&at), "lastError": error},
            Attempt::GaveUp { error } => doc! {
                "status": "failed", "lastError": error, "nextAt": Bson::Null,
            },
        };
        self.coll(ALERT_DELIVERIES)
            .update_one(
                doc! {"_id": id},
                doc! {"$set": set, "$inc": {"attempts": 1_i64}},
            )
            .await?;
        Ok(())
    }

    /// The newest deliveries, of one source or all.
    /// Deletes the deliveries queued before `cutoff` (RFC 3339) that are over (sent, or
    /// given up); a pending one stays whatever its age. How many were deleted.
    pub async fn prune_alert_deliveries(&self, cutoff: &str) -> Result<u64, StoreError> {
        let r = self
            .coll(ALERT_DELIVERIES)
            .delete_many(doc! {"status": {"$in": ["sent", "failed"]}, "createdAt": {"$lt": cutoff}})
            .await?;
        Ok(r.deleted_count)
    }

    pub async fn list_deliveries(
        &self,
        source_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let filter = match source_id {
            Some(s) => doc! {"sourceId": s},
            None => doc! {},
        };
        let docs: Vec<Document> = self
            .coll(ALERT_DELIVERIES)
            .find(filter)
            .sort(doc! {"createdAt": -1, "_id": -1})
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        docs.into_iter()
            .map(|d| mongodb::bson::from_document(d).map_err(|e| StoreError::Decode(e.to_string())))
            .collect()
    }

    /// When `source_id` last got a new job: the end of its newest run with new jobs, else
    /// (never) the time of its first run; `None` when it has no run.
    pub async fn last_new_job_at(&self, source_id: &str) -> Result<Option<String>, StoreError> {
        let logs = self.coll(super::IMPORT_LOGS);
        let with_new = logs
            .find_one(doc! {"sourceId": source_id, "newJobs": {"$gt": 0}})
            .sort(doc! {"importDateTime": -1})
            .projection(doc! {"importDateTime": 1})
            .await?;
        let d = match with_new {
            Some(d) => Some(d),
            None => {
                logs.find_one(doc! {"sourceId": source_id})
                    .sort(doc! {"importDateTime": 1})
                    .projection(doc! {"importDateTime": 1})
                    .await?
            }
        };
        Ok(d.and_then(|d| d.get_str("importDateTime").ok().map(str::to_owned)))
    }

    /// (jobs run `run_id` wrote, of which without a company).
    pub async fn company_coverage(&self, run_id: &str) -> Result<(i64, i64), StoreError> {
        let jobs = self.coll(super::JOBS);
        let written = doc! {"$or": [{"createdByRun": run_id}, {"updatedByRun": run_id}]};
        let total = jobs.count_documents(written.clone()).await? as i64;
        if total == 0 {
            return Ok((0, 0));
        }
        let missing = jobs
            .count_documents(doc! {"$and": [written, {"$or": [
                {"company": Bson::Null}, {"company": ""},
            ]}]})
            .await? as i64;
        Ok((total, missing))
    }
}
