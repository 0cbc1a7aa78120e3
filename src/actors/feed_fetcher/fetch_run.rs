//! One fetch of one run: fetch the source (conditional GET, limits), stream-parse it, and queue
//! the items in numbered batches; then record the batch count so the last batch ends the run.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::stream::ChannelReader;
use crate::actors::pipeline::Pipeline;
use crate::actors::retry::backoff;
use crate::domain::source::Source;
use crate::domain::{Failure, FeedWindow, RunStatus, codes};
use crate::ingest::fetch::{FetchBody, FetchError, FetchRequest, FetchResponse};
use crate::ingest::parallel::parse_parallel;
use crate::ingest::{ItemOutcome, ParseOptions, ParseSummary};
use crate::store::StoreError;
use crate::store::mongo::jobs::job_id;
use crate::store::mongo::runs::Validators;
use crate::store::queue::{FetchFeedTask, ImportBatchTask, PackedItems};

/// How much longer than a retry's delay the source's running lease is kept.
const RUNNING_LEASE_MARGIN: Duration = Duration::from_secs(30 * 60);

/// Chunks in flight between the network and the parser.
const CHUNK_QUEUE: usize = 16;

/// Threads that normalize (sanitize) a feed's items while it is being parsed: the parse of a
/// large unchanged feed is what bounds its re-import. One core is left to the rest of the
/// pipeline (batching, the queue, the workers): with two cores, a second normalizing thread
/// made the parse slower (0.90 s against 0.80 s for 100,000 small items, 1.5x the CPU).
fn normalize_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() - 1).clamp(1, 4))
}

pub async fn fetch_run(p: &Pipeline, task: FetchFeedTask) -> Result<(), StoreError> {
    let marking = async {
        let started = p.store.mark_running(&task.run_id, &p.instance).await?;
        if let Some((_, generation)) = &started {
            p.runs.start_generation(&task.run_id, *generation).await?;
        }
        Ok(started)
    };
    let Some((run, generation)) = p.with_run_lock(&task.run_id, marking).await? else {
        // Already ended: a late redelivery of a finished fetch.
        return Ok(());
    };
    p.runs
        .renew_running(&run.source_id, &run.id, Duration::ZERO)
        .await?;
    p.publish(&run).await;
    let read = Read {
        run_id: task.run_id.clone(),
        generation,
    };
    let Some(source) = p.store.get_source(&task.source_id).await? else {
        let f = Failure::new(
            codes::INTERNAL,
            format!("source `{}` no longer exists", task.source_id),
        );
        p.end(&task.run_id, RunStatus::Failed, Some(&f)).await?;
        return Ok(());
    };
    // The job index this read classifies against; a sample of it is checked against MongoDB
    // first (see `Store::check_index`).
    let checking = Instant::now();
    let epoch = p.store.check_index(&source.id).await?;
    tracing::debug!(
        run_id = %task.run_id,
        ms = checking.elapsed().as_millis() as u64,
        "job index checked"
    );
    let started = Instant::now();
    // Only the first read of a run is conditional: a later one (a retry, a redelivered fetch,
    // a resume) must read the body, since what an earlier read queued may never be stored.
    // A replay asked for the body whatever the validators say.
    let conditional = generation == 1 && !run.unconditional;
    let req = FetchRequest {
        url: source.url.clone(),
        user_agent: source.user_agent.clone(),
        etag: source.etag.clone().filter(|_| conditional),
        last_modified: source.last_modified.clone().filter(|_| conditional),
        max_body_bytes: source.max_body_bytes,
        allow_private_networks: source.allow_private_networks,
    };
    match p.fetcher.fetch(&req).await {
        Err(e) => fetch_failed(p, &task, &run.source_id, e).await,
        Ok(FetchResponse::NotModified) => {
            p.end(&task.run_id, RunStatus::NotModified, None).await?;
            Ok(())
        }
        Ok(FetchResponse::Body(body)) => match run.backfill {
            Some(walk) => {
                super::backfill::walk(p, &read, &source, walk, body, epoch, started).await
            }
            None => read_and_queue(p, &read, &source, body, epoch, started).await,
        },
    }
}

/// One read of a run's feed: the run and the generation it claimed.
pub(super) struct Read {
    pub run_id: String,
    pub generation: u32,
}

/// Transient failures are tried again later (the run stays queued, with the reason visible);
/// permanent ones, or the last attempt, end the run.
async fn fetch_failed(
    p: &Pipeline,
    task: &FetchFeedTask,
    source_id: &str,
    e: FetchError,
) -> Result<(), StoreError> {
    let failure = Failure::new(e.code, e.message.clone());
    let max = p.settings.pipeline.max_fetch_attempts;
    if e.transient && task.attempt < max {
        let next = task.attempt + 1;
        let base = Duration::from_millis(p.settings.pipeline.retry_base_ms);
        let delay = backoff(base, next, e.retry_after);
        let retry_at = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        // The source stays taken while the run waits, however long `Retry-After` says; taken
        // for the wait before the wait is shown.
        p.runs
            .renew_running(source_id, &task.run_id, delay + RUNNING_LEASE_MARGIN)
            .await?;
        let noting = p
            .store
            .note_retry(&task.run_id, &failure, task.attempt, retry_at);
        let noted = p.with_run_lock(&task.run_id, noting).await?;
        p.changed(noted).await;
        let retry = FetchFeedTask {
            attempt: next,
            ..task.clone()
        };
        tracing::info!(run_id = %task.run_id, code = e.code, ?delay, attempt = next, "fetch will be retried");
        let alerts = &p.settings.alerts;
        if let Err(e) =
            crate::alerts::on_backing_off(&p.store, alerts, source_id, &task.run_id, &failure).await
        {
            tracing::warn!(run_id = %task.run_id, error = %e, "could not note the backoff for alerts");
        }
        if p.queue_fetch(retry, Some(delay)).await.is_ok() {
            return Ok(());
        }
    }
    p.end(&task.run_id, RunStatus::Failed, Some(&failure))
        .await?;
    Ok(())
}

async fn read_and_queue(
    p: &Pipeline,
    task: &Read,
    source: &Source,
    body: FetchBody,
    epoch: Option<String>,
    started: Instant,
) -> Result<(), StoreError> {
    let validators = Validators {
        url: source.url.clone(),
        etag: body.etag.clone(),
        last_modified: body.last_modified.clone(),
        reading: Some(source.reading_key()),
    };
    let mut b = Batcher::new(p, task, source, epoch);
    let page = match read_body(p, source, body, &mut b).await {
        Ok(page) => page,
        Err(e) => return queue_failed(p, task, e).await,
    };
    let fetch_ms = started.elapsed().as_millis() as i64;
    if page.items == 0 && page.error.is_some() {
        p.end(&task.run_id, RunStatus::Failed, page.error.as_ref())
            .await?;
        return Ok(());
    }
    // Saved on the source only when the run completes (`Pipeline::complete_if_done`).
    let validators = page.error.is_none().then_some(validators);
    let timing = (fetch_ms, page.parse_time.as_millis() as i64);
    finish(p, b, page.error.as_ref(), validators.as_ref(), timing).await
}

/// The queue is gone: batches already queued still finish, but the run cannot be completed
/// exactly, so it fails with the reason.
pub(super) async fn queue_failed(
    p: &Pipeline,
    task: &Read,
    e: StoreError,
) -> Result<(), StoreError> {
    let f = Failure::new(e.code(), format!("could not queue items: {e}"));
    p.end(&task.run_id, RunStatus::Failed, Some(&f)).await
}

/// What one body (a feed, or a page of one) gave the batcher.
pub(super) struct PageRead {
    /// Items parsed (failed ones included).
    pub items: i64,
    /// What broke the read: a cut transfer, else a parse error.
    pub error: Option<Failure>,
    pub parse_time: Duration,
    /// The document says WordPress generated it (its pages are numbered by `paged`).
    pub wordpress: bool,
}

/// How far into a body we look for its `<generator>`.
const GENERATOR_SNIFF_BYTES: usize = 16 * 1024;

fn says_wordpress(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.find("<generator")
        .is_some_and(|at| head[at..].contains("wordpress"))
}

/// Streams one body through the parser into the batcher (which queues full batches).
/// `Err` only when the queue failed.
pub(super) async fn read_body(
    p: &Pipeline,
    source: &Source,
    mut body: FetchBody,
    b: &mut Batcher<'_>,
) -> Result<PageRead, StoreError> {
    let opts = ParseOptions {
        limits: p.settings.parse.clone(),
        base_url: Some(body.final_url.clone()),
        header_charset: body.charset.clone(),
        format: source.format.clone(),
        mapping: source.custom_mapping().cloned().map(std::sync::Arc::new),
    };
    let (chunk_tx, chunk_rx) = mpsc::channel(CHUNK_QUEUE);
    let (item_tx, mut item_rx) =
        mpsc::channel::<ItemOutcome>(p.settings.pipeline.batch_size.max(64));
    let parser = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(64 * 1024, ChannelReader::new(chunk_rx));
        let mut send = |item| {
            if item_tx.blocking_send(item).is_err() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let t = Instant::now();
        let summary = parse_parallel(reader, &opts, normalize_threads(), &mut send);
        (summary, t.elapsed())
    });

    // Network → parser.
    let feed = async {
        let mut fetch_error: Option<FetchError> = None;
        let mut head = Vec::new();
        loop {
            match body.next_chunk().await {
                Ok(Some(chunk)) => {
                    if head.len() < GENERATOR_SNIFF_BYTES {
                        head.extend_from_slice(&chunk[..chunk.len().min(GENERATOR_SNIFF_BYTES)]);
                    }
                    if chunk_tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    chunk_tx.send(Err(e.message.clone())).await.ok();
                    fetch_error = Some(e);
                    break;
                }
            }
        }
        drop(chunk_tx);
        (fetch_error, says_wordpress(&head))
    };

    // Parser → batches on the queue.
    let batcher = async {
        while let Some(item) = item_rx.recv().await {
            b.add(item).await?;
        }
        Ok::<(), StoreError>(())
    };

    let ((fetch_error, wordpress), queued) = tokio::join!(feed, batcher);
    let (summary, parse_time) = parser.await.unwrap_or_else(|e| {
        let f = Failure::new(codes::INTERNAL, format!("the parser stopped: {e}"));
        (
            ParseSummary {
                error: Some(f),
                ..Default::default()
            },
            Duration::ZERO,
        )
    });
    queued?;
    // A cut transfer explains a broken parse better than the parse error does.
    let error = match fetch_error {
        Some(fe) => Some(Failure::new(fe.code, fe.message)),
        None => summary.error.clone(),
    };
    Ok(PageRead {
        items: summary.items as i64,
        error,
        parse_time,
        wordpress,
    })
}

/// Queues the last batch and records the read's batch count (and what the run needs at its
/// end), so that the last batch to be recorded ends the run.
pub(super) async fn finish(
    p: &Pipeline,
    mut b: Batcher<'_>,
    error: Option<&Failure>,
    validators: Option<&Validators>,
    (fetch_ms, parse_ms): (i64, i64),
) -> Result<(), StoreError> {
    let task = b.task;
    if let Err(e) = b.flush().await {
        return queue_failed(p, task, e).await;
    }
    let (batches, window, epoch) = (b.batch_no, b.window, b.epoch);
    let finishing = async {
        let run = p
            .store
            .finish_fetch(
                &task.run_id,
                task.generation,
                batches,
                error,
                validators,
                epoch.as_deref(),
                &window,
                fetch_ms,
                parse_ms,
            )
            .await?;
        if run.is_some() {
            p.runs
                .set_total(&task.run_id, task.generation, batches)
                .await?;
        }
        Ok(run)
    };
    let after = p.with_run_lock(&task.run_id, finishing).await?;
    p.changed(after).await;
    p.complete_if_done(&task.run_id).await
}

/// Groups parsed items into numbered batches and queues each when full. Repeated ids within
/// the feed are marked here, where the whole feed is seen; each posting's stored id, content
/// hash and dedupe key are computed here once (see `PackedItems`).
pub(super) struct Batcher<'a> {
    p: &'a Pipeline,
    task: &'a Read,
    publisher: String,
    source_id: String,
    epoch: Option<String>,
    /// When this read began (`ImportBatchTask::read_at`).
    read_at: String,
    seen: HashSet<String>,
    items: PackedItems,
    len: usize,
    /// Stored ids of the postings in `items`, for the run's set of sightings.
    ids: Vec<String>,
    batch_no: u32,
    /// The span of posting dates this read covers.
    window: FeedWindow,
    /// Stored ids of the postings first listed since `take_fresh` was last called (a
    /// backfill's page).
    fresh: Vec<String>,
    track_fresh: bool,
}

impl<'a> Batcher<'a> {
    pub(super) fn new(
        p: &'a Pipeline,
        task: &'a Read,
        source: &Source,
        epoch: Option<String>,
    ) -> Self {
        Self {
            p,
            task,
            publisher: source.publisher(),
            source_id: source.id.clone(),
            epoch,
            read_at: crate::domain::time::format(&chrono::Utc::now()),
            seen: HashSet::new(),
            items: PackedItems::default(),
            len: 0,
            ids: Vec::with_capacity(p.settings.pipeline.batch_size),
            batch_no: 0,
            window: FeedWindow::default(),
            fresh: Vec::new(),
            track_fresh: false,
        }
    }

    /// Keeps the ids of the postings first listed, for `take_fresh` (a backfill).
    pub(super) fn tracking_fresh(mut self) -> Self {
        self.track_fresh = true;
        self
    }

    /// The stored ids of the postings first listed since the last call.
    pub(super) fn take_fresh(&mut self) -> Vec<String> {
        std::mem::take(&mut self.fresh)
    }

    async fn add(&mut self, item: ItemOutcome) -> Result<(), StoreError> {
        match item {
            Ok(posting) => {
                if self.seen.insert(posting.external_id.clone()) {
                    self.window.observe(posting.date_posted);
                    let id = job_id(&self.publisher, &posting.external_id);
                    self.items.push_job_with_id(&id, &posting)?;
                    if self.track_fresh {
                        self.fresh.push(id.clone());
                    }
                    self.ids.push(id);
                } else {
                    self.items.push_duplicate(&posting.external_id);
                }
            }
            Err(f) => self.items.push_failed(&f)?,
        }
        self.len += 1;
        if self.len >= self.p.settings.pipeline.batch_size {
            self.flush().await?;
        }
        Ok(())
    }

    pub(super) async fn flush(&mut self) -> Result<(), StoreError> {
        if self.len == 0 {
            return Ok(());
        }
        let mut items = std::mem::take(&mut self.items);
        let bodies = items.take_bodies();
        let (run_id, generation) = (&self.task.run_id, self.task.generation);
        let task = ImportBatchTask {
            run_id: run_id.clone(),
            source_id: self.source_id.clone(),
            publisher: self.publisher.clone(),
            batch_no: self.batch_no,
            generation: Some(generation),
            index_epoch: self.epoch.clone(),
            read_at: Some(self.read_at.clone()),
            items,
            bodies: None,
            entries: Vec::new(),
        };
        self.len = 0;
        // The ids this read saw, for closing the jobs it did not see once the run is
        // complete, and the postings' bodies, both before the batch is queued.
        self.p
            .runs
            .put_batch(run_id, generation, self.batch_no, &self.ids, &bodies)
            .await?;
        self.ids.clear();
        self.p.queues.push_batch(task, generation).await?;
        self.batch_no += 1;
        Ok(())
    }
}
