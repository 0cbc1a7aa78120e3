//! What the daemon writes about a source, kept apart from the source itself.
//!
//! A source's document in `sources` is its definition (URL, schedule, format, ...), written
//! only by its owner: the API, the command line and the config file. What the daemon learns
//! while it runs the source lives in two other collections, one document per source in each,
//! `_id` the source's id:
//!
//! - `source_state`, written by the end of a run of the source (one at a time): its `health`,
//!   the validators of the body it stored, the window of its last complete run (`lastWindow`);
//! - `source_facts`, what the source's runs need to know about its jobs (`jobFacts`, see
//!   `job_facts`), written by batches of its runs and by the ends of other sources' runs, so
//!   only with facts whose loss hides nothing;
//! - `source_schedule`, written by the scheduler: `nextRunAt`.
//!
//! Why: FerretDB 1.24 reads, changes and writes back the whole document on every update, so
//! two writers of one document can lose each other's fields (README, "FerretDB loses
//! concurrent updates of one document"). With the definition on its own, an edit made through
//! the API is never lost to a run's end or a scheduler tick, and a run's outcome never to an
//! edit; the scheduler's writes cannot undo a run's either.
//!
//! Validators are kept with what they were answered for (`validatorsFor`: the URL and the
//! source's reading key when the body was read, `Source::reading_key`). They are the source's
//! only while its URL and reading key are those (validators saved without a reading key are
//! not used), so an edit drops them without writing here, and a run that read the feed before
//! the edit cannot put them back.
//!
//! Databases written by earlier versions kept all of this on the source's document; the first
//! start of this version moves it (`move_source_state`).

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};

use super::Store;
use super::history::QUERY_MAX_TIME;
use crate::domain::source::{Source, SourceHealth};
use crate::domain::time::format as ts;
use crate::store::{StoreError, decode, encode};

/// What the pipeline wrote about each source (see above).
pub const SOURCE_STATE: &str = "source_state";
/// What each source's runs know about its jobs (see above and `job_facts`).
pub const SOURCE_FACTS: &str = "source_facts";
/// The next scheduled run of each source (see above).
pub const SOURCE_SCHEDULE: &str = "source_schedule";

/// Fields of `Source` that are state, not definition: never written to `sources`.
const STATE_FIELDS: [&str; 5] = ["health", "etag", "lastModified", "lastWindow", "jobFacts"];

/// A source's definition as stored in `sources`: its fields without the state, with the
/// reading key its validators are matched against.
pub(crate) fn definition(s: &Source) -> Result<Document, StoreError> {
    let mut d = encode(s)?;
    for f in STATE_FIELDS {
        d.remove(f);
    }
    d.insert("readingKey", s.reading_key());
    Ok(d)
}

/// Puts a source's state on the definition read from `sources`. Without a state document
/// (a source created a moment ago, or one an earlier version wrote and not yet moved), what
/// the definition carries stays.
fn apply(s: &mut Source, state: Option<&Document>, schedule: Option<&Document>) {
    if let Some(st) = state {
        s.health = st
            .get_document("health")
            .ok()
            .and_then(|h| decode::<SourceHealth>(h.clone()).ok())
            .unwrap_or_default();
        s.last_window = st
            .get_document("lastWindow")
            .ok()
            .and_then(|w| decode(w.clone()).ok());
        let bound = st.get_document("validatorsFor").ok();
        // Validators saved without a reading key (by a run an earlier version queued) are
        // not used: the next run reads the whole feed once.
        let theirs = bound.is_some_and(|b| {
            b.get_str("url").ok() == Some(s.url.as_str())
                && b.get_str("readingKey").ok() == Some(s.reading_key().as_str())
        });
        let validator = |k: &str| st.get_str(k).ok().filter(|_| theirs).map(str::to_owned);
        s.etag = validator("etag");
        s.last_modified = validator("lastModified");
    }
    s.health.next_run_at = schedule
        .and_then(|d| d.get_str("nextRunAt").ok())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or(s.health.next_run_at);
}

impl Store {
    fn source_state(&self) -> Collection<Document> {
        self.coll(SOURCE_STATE)
    }

    pub(crate) fn source_facts(&self) -> Collection<Document> {
        self.coll(SOURCE_FACTS)
    }

    fn source_schedule(&self) -> Collection<Document> {
        self.coll(SOURCE_SCHEDULE)
    }

    /// Starts the state of a source created now: healthy, and no job carries it yet.
    pub(crate) async fn create_source_state(&self, id: &str) -> Result<(), StoreError> {
        self.source_state()
            .update_one(
                doc! {"_id": id},
                doc! {"$setOnInsert": {"health": encode(&SourceHealth::default())?}},
            )
            .upsert(true)
            .await?;
        self.source_facts()
            .update_one(
                doc! {"_id": id},
                doc! {"$setOnInsert": {"jobFacts": super::job_facts::new_source_facts()}},
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Deletes what was kept about a removed source.
    pub(crate) async fn drop_source_state(&self, id: &str) -> Result<(), StoreError> {
        for c in [SOURCE_STATE, SOURCE_FACTS, SOURCE_SCHEDULE] {
            self.coll(c).delete_one(doc! {"_id": id}).await?;
        }
        Ok(())
    }

    /// A source read from `sources` (if any), with its state.
    pub(crate) async fn with_state(
        &self,
        d: Option<Document>,
    ) -> Result<Option<Source>, StoreError> {
        let Some(d) = d else { return Ok(None) };
        let mut s: Source = decode(d)?;
        let state = self
            .source_state()
            .find_one(doc! {"_id": &s.id})
            .max_time(QUERY_MAX_TIME)
            .await?;
        let schedule = self
            .source_schedule()
            .find_one(doc! {"_id": &s.id})
            .max_time(QUERY_MAX_TIME)
            .await?;
        apply(&mut s, state.as_ref(), schedule.as_ref());
        Ok(Some(s))
    }

    /// Sources read from `sources`, each with its state.
    pub(crate) async fn all_with_state(
        &self,
        docs: Vec<Document>,
    ) -> Result<Vec<Source>, StoreError> {
        let by_id = |docs: Vec<Document>| -> HashMap<String, Document> {
            docs.into_iter()
                .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
                .collect()
        };
        let read = |c: Collection<Document>| async move {
            c.find(doc! {})
                .max_time(QUERY_MAX_TIME)
                .await?
                .try_collect::<Vec<Document>>()
                .await
        };
        let states = by_id(read(self.source_state()).await?);
        let schedules = by_id(read(self.source_schedule()).await?);
        docs.into_iter()
            .map(|d| {
                let mut s: Source = decode(d)?;
                let id = s.id.clone();
                apply(&mut s, states.get(&id), schedules.get(&id));
                Ok(s)
            })
            .collect()
    }

    pub async fn set_next_run(
        &self,
        id: &str,
        next: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StoreError> {
        let v = next.map(|t| Bson::String(ts(&t))).unwrap_or(Bson::Null);
        self.source_schedule()
            .update_one(doc! {"_id": id}, doc! {"$set": {"nextRunAt": v}})
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The failure streak of a source's last runs.
    pub(crate) async fn failure_streak(&self, id: &str) -> Result<i64, StoreError> {
        let d = self
            .source_state()
            .find_one(doc! {"_id": id})
            .projection(doc! {"health.consecutiveFailures": 1})
            .await?;
        Ok(super::int_field(
            d.as_ref().and_then(|d| d.get_document("health").ok()),
            "consecutiveFailures",
        ))
    }

    /// Writes fields of a source's state (`$set`), creating the document if need be.
    pub(crate) async fn set_source_state(&self, id: &str, set: Document) -> Result<(), StoreError> {
        self.source_state()
            .update_one(doc! {"_id": id}, doc! {"$set": set})
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Moves the state that earlier versions kept on the sources' documents into
    /// `source_state`: a state document is made from those fields unless one exists, then the
    /// fields leave the definition. Safe to repeat, and to run in several daemons at once.
    pub(crate) async fn move_source_state(&self) -> Result<u64, StoreError> {
        let any_state: Vec<Document> = STATE_FIELDS
            .iter()
            .map(|f| doc! {*f: {"$exists": true}})
            .collect();
        let old: Vec<Document> = self
            .coll(super::SOURCES)
            .find(doc! {"$or": any_state})
            .await?
            .try_collect()
            .await?;
        let unset: Document = STATE_FIELDS
            .iter()
            .map(|f| (f.to_string(), Bson::from("")))
            .collect();
        let mut moved = 0;
        for d in old {
            let Ok(id) = d.get_str("_id") else { continue };
            let mut st = doc! {"_id": id};
            for f in STATE_FIELDS {
                if let Some(v) = d.get(f).filter(|_| f != "jobFacts") {
                    st.insert(f, v.clone());
                }
            }
            if let Some(facts) = d.get("jobFacts") {
                let r = self
                    .source_facts()
                    .insert_one(doc! {"_id": id, "jobFacts": facts.clone()})
                    .await;
                if let Err(e) = r
                    && !super::is_duplicate_key(&e)
                {
                    return Err(e.into());
                }
            }
            if let Ok(h) = st.get_document_mut("health") {
                // The scheduler writes the next run again when it starts.
                h.remove("nextRunAt");
            }
            let mut bound = doc! {};
            if let Ok(url) = d.get_str("url") {
                bound.insert("url", url);
            }
            if let Ok(k) = d.get_str("readingKey") {
                bound.insert("readingKey", k);
            }
            st.insert("validatorsFor", bound);
            match self.source_state().insert_one(st).await {
                Ok(_) => moved += 1,
                Err(e) if super::is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
            self.coll(super::SOURCES)
                .update_one(doc! {"_id": id}, doc! {"$unset": unset.clone()})
                .await?;
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source::new("s", "S", "https://example.com/feed", "0 0 * * * *")
    }

    #[test]
    fn the_definition_carries_no_state() {
        let mut s = source();
        s.etag = Some("\"v1\"".into());
        s.health.consecutive_failures = 2;
        let d = definition(&s).unwrap();
        for f in STATE_FIELDS {
            assert!(d.get(f).is_none(), "{f} in {d}");
        }
        assert_eq!(d.get_str("readingKey").unwrap(), s.reading_key());
        assert_eq!(d.get_str("url").unwrap(), s.url);
    }

    #[test]
    fn validators_are_the_sources_only_for_the_url_and_reading_they_were_answered_for() {
        let s = source();
        let state = |url: &str, key: Option<&str>| {
            let mut bound = doc! {"url": url};
            if let Some(k) = key {
                bound.insert("readingKey", k);
            }
            doc! {"etag": "\"v1\"", "lastModified": "Mon, 07 Dec 2026 10:00:00 GMT",
            "validatorsFor": bound, "health": {"consecutiveFailures": 1_i64}}
        };
        let read = |st: Document| {
            let mut s = source();
            apply(&mut s, Some(&st), None);
            s
        };
        let same = read(state(&s.url, Some(&s.reading_key())));
        assert_eq!(same.etag.as_deref(), Some("\"v1\""));
        assert!(same.last_modified.is_some());
        assert_eq!(same.health.consecutive_failures, 1);
        // Saved by a run an earlier version queued, with no reading key: not used.
        assert!(read(state(&s.url, None)).etag.is_none());
        assert!(
            read(state("https://example.com/moved", Some(&s.reading_key())))
                .etag
                .is_none()
        );
        let other_reading = read(state(&s.url, Some("0000000000000000")));
        assert!(other_reading.etag.is_none() && other_reading.last_modified.is_none());
        // Validators with nothing to say what they were answered for are not used.
        let mut unbound = state(&s.url, None);
        unbound.remove("validatorsFor");
        assert!(read(unbound).etag.is_none());
    }

    #[test]
    fn the_next_run_comes_from_the_schedule() {
        let mut s = source();
        apply(
            &mut s,
            Some(&doc! {"health": {"consecutiveFailures": 0_i64}}),
            Some(&doc! {"nextRunAt": "2026-12-07T10:00:00Z"}),
        );
        assert_eq!(
            s.health.next_run_at.map(|t| ts(&t)).as_deref(),
            Some("2026-12-07T10:00:00.000Z")
        );
        let mut s = source();
        apply(&mut s, None, None);
        assert_eq!(s, source());
    }
}
