//! What the queues hold right now, for the dashboard's queue view (`GET /api/queues`): per
//! queue the tasks waiting, in flight and delayed, and the live workers of every daemon with
//! the tasks each holds, read through `queue_state`, the one owner of the queues' key layout
//! (apalis' `ListWorkers` does not work with apalis-redis 1.0; see `queue_state::workers`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;
use super::queue::Queues;
use super::queue_state;
use crate::domain::time;

/// Tasks listed per worker at most (a worker holds about its concurrency).
pub const HELD_LISTED: usize = 50;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    /// `fetch` or `items`.
    pub name: &'static str,
    pub waiting: u64,
    /// Held by registered workers: being done, or fetched and about to be.
    pub active: u64,
    pub delayed: u64,
    #[serde(with = "time::rfc3339_opt")]
    pub next_due_at: Option<DateTime<Utc>>,
}

/// A task a worker holds, as far as its id and payload say.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldTask {
    pub task_id: String,
    pub run_id: Option<String>,
    pub source_id: Option<String>,
    /// A batch's number (items queue).
    pub batch_no: Option<u32>,
    /// A fetch's attempt (fetch queue).
    pub attempt: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerView {
    /// The daemon's instance name (as on runs' `fetchedBy`).
    pub daemon: String,
    pub queue: &'static str,
    pub worker: String,
    #[serde(with = "time::rfc3339")]
    pub last_heartbeat_at: DateTime<Utc>,
    /// How many tasks it holds; `tasks` lists up to `HELD_LISTED` of them.
    pub holding: u64,
    pub tasks: Vec<HeldTask>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuesView {
    pub queues: Vec<QueueView>,
    pub workers: Vec<WorkerView>,
}

/// The daemon a worker belongs to: worker names are `{kind}-{instance}-{start}`.
pub fn daemon_of(worker: &str) -> String {
    let rest = ["fetcher-", "worker-"]
        .iter()
        .find_map(|k| worker.strip_prefix(k))
        .unwrap_or(worker);
    rest.rsplit_once('-')
        .map_or(rest, |(instance, _)| instance)
        .to_owned()
}

/// What a task id says: `fetch:{run}:{resume}:{attempt}` or `batch:{run}:{generation}:{no}`.
pub fn held_task(id: &str, source_id: Option<String>) -> HeldTask {
    let mut t = HeldTask {
        task_id: id.to_owned(),
        run_id: None,
        source_id,
        batch_no: None,
        attempt: None,
    };
    let parts: Vec<&str> = id.split(':').collect();
    if let [kind, run, _, n] = parts[..] {
        let n = n.parse().ok();
        match kind {
            "fetch" => t.attempt = n,
            "batch" => t.batch_no = n,
            _ => return t,
        }
        t.run_id = Some(run.to_owned());
    }
    t
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl Queues {
    /// Both queues and their live workers: those whose last heartbeat is within `live_within`
    /// (apalis presumes a worker dead after three missed heartbeats).
    pub async fn view(&self, live_within: Duration) -> Result<QueuesView, StoreError> {
        let now = Utc::now().timestamp();
        let oldest = now - live_within.as_secs() as i64;
        let mut out = QueuesView {
            queues: Vec::new(),
            workers: Vec::new(),
        };
        for (name, fetch) in [("fetch", true), ("items", false)] {
            let keys = self.keys(fetch);
            let mut c = self.connection();
            let counts = queue_state::counts(&mut c, &keys).await?;
            let workers = queue_state::workers(&mut c, &keys).await?;
            let mut active = 0;
            for (worker, beat) in workers {
                let (holding, held) =
                    queue_state::held_by(&mut c, &keys, &worker, HELD_LISTED).await?;
                active += holding;
                if beat < oldest {
                    continue;
                }
                out.workers.push(WorkerView {
                    daemon: daemon_of(&worker),
                    queue: name,
                    last_heartbeat_at: at(beat),
                    holding,
                    tasks: held
                        .into_iter()
                        .map(|h| held_task(&h.id, h.source_id))
                        .collect(),
                    worker,
                });
            }
            out.queues.push(QueueView {
                name,
                waiting: counts.waiting,
                active,
                delayed: counts.delayed,
                next_due_at: counts.next_due.map(at),
            });
        }
        out.workers
            .sort_by(|a, b| (&a.daemon, a.queue, &a.worker).cmp(&(&b.daemon, b.queue, &b.worker)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_and_task_ids_say_whose_and_what() {
        assert_eq!(daemon_of("fetcher-host-12-ab3f-2"), "host-12-ab3f");
        assert_eq!(daemon_of("worker-host-12-ab3f-10"), "host-12-ab3f");
        let f = held_task("fetch:r1:0:2", Some("s".into()));
        assert_eq!(
            (f.run_id.as_deref(), f.attempt, f.batch_no),
            (Some("r1"), Some(2), None)
        );
        let b = held_task("batch:r2:1:7", None);
        assert_eq!(
            (b.run_id.as_deref(), b.attempt, b.batch_no),
            (Some("r2"), None, Some(7))
        );
        assert_eq!(held_task("other", None).run_id, None);
    }
}
