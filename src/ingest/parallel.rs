//! [`parse_parallel`]: the contract of [`super::parse`] (same items, same order, same
//! summary), with normalization, which sanitizing dominates, spread over threads.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use super::item::Normalizer;
use super::{ItemOutcome, ParseOptions, ParseSummary, RawOutcome, parse, parse_raw};

/// Items per batch handed to a worker: enough to make the channel cost vanish, small enough
/// that the first items reach the callback quickly.
const BATCH: usize = 64;
/// Batches in flight per thread before the reader waits; this bounds memory.
const IN_FLIGHT_PER_THREAD: usize = 4;

/// Parses on the calling thread while `threads - 1` workers normalize batches of items; when
/// every worker is busy and their queue is full, the calling thread normalizes the batch
/// itself, so `threads` threads share the work without oversubscribing as many cores.
/// Results are handed to `on_item` on the calling thread in document order. With
/// `threads <= 1` this is [`parse`]. After `on_item` breaks, items already read are dropped,
/// so `summary.items` may count a few more items than were delivered.
pub fn parse_parallel<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    threads: usize,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    if threads <= 1 {
        return parse(reader, opts, on_item);
    }
    parse_with_queue(reader, opts, threads, threads - 1, on_item).0
}

/// [`parse_parallel`] with `queue` batches waiting for the workers at most; also returns how
/// many batches the calling thread normalized itself.
fn parse_with_queue<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    threads: usize,
    queue: usize,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> (ParseSummary, u64) {
    let workers = threads.saturating_sub(1).max(1);
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = mpsc::sync_channel::<Batch<RawOutcome>>(queue);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<Batch<ItemOutcome>>();
        for _ in 0..workers {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            scope.spawn(move || normalize_batches(opts, &rx, &tx));
        }
        drop(done_tx);
        let mut order = InOrder {
            work_tx: Some(work_tx),
            done_rx,
            normalizer: Normalizer::new(&opts.limits, opts.base_url.as_ref()),
            on_item,
            batch: Vec::with_capacity(BATCH),
            next_seq: 0,
            next_out: 0,
            pending: BTreeMap::new(),
            max_in_flight: threads * IN_FLIGHT_PER_THREAD,
            stopped: false,
            inline_batches: 0,
        };
        let summary = parse_raw(reader, opts, &mut |raw| order.push(raw));
        order.finish();
        (summary, order.inline_batches)
    })
}

type Batch<T> = (u64, Vec<T>);

fn normalize_batches(
    opts: &ParseOptions,
    rx: &Mutex<Receiver<Batch<RawOutcome>>>,
    tx: &Sender<Batch<ItemOutcome>>,
) {
    let normalizer = Normalizer::new(&opts.limits, opts.base_url.as_ref());
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((seq, raws)) = job else {
            return;
        };
        let out = raws
            .into_iter()
            .map(|r| r.and_then(|raw| normalizer.normalize(raw)))
            .collect();
        if tx.send((seq, out)).is_err() {
            return;
        }
    }
}

/// Batches raw items out to the workers (or normalizes them itself when the workers are
/// behind) and hands results back in sequence order.
struct InOrder<'f, 'o> {
    work_tx: Option<SyncSender<Batch<RawOutcome>>>,
    done_rx: Receiver<Batch<ItemOutcome>>,
    normalizer: Normalizer<'o>,
    on_item: &'f mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
    batch: Vec<RawOutcome>,
    next_seq: u64,
    next_out: u64,
    pending: BTreeMap<u64, Vec<ItemOutcome>>,
    max_in_flight: usize,
    stopped: bool,
    inline_batches: u64,
}

impl InOrder<'_, '_> {
    fn push(&mut self, raw: RawOutcome) -> ControlFlow<()> {
        self.batch.push(raw);
        if self.batch.len() >= BATCH {
            self.send();
            while let Ok(done) = self.done_rx.try_recv() {
                self.deliver(done);
            }
            while !self.stopped && self.in_flight() >= self.max_in_flight {
                match self.done_rx.recv() {
                    Ok(done) => self.deliver(done),
                    Err(_) => break,
                }
            }
        }
        if self.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn in_flight(&self) -> usize {
        (self.next_seq - self.next_out) as usize
    }

    /// Hands the batch to a worker, or normalizes it here when their queue is full.
    fn send(&mut self) {
        if self.batch.is_empty() || self.stopped {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let seq = self.next_seq;
        let Some(tx) = self.work_tx.as_ref() else {
            self.stopped = true;
            return;
        };
        self.next_seq += 1;
        match tx.try_send((seq, batch)) {
            Ok(()) => {}
            Err(TrySendError::Full((_, batch))) => {
                let out = batch
                    .into_iter()
                    .map(|r| r.and_then(|raw| self.normalizer.normalize(raw)))
                    .collect();
                self.inline_batches += 1;
                self.deliver((seq, out));
            }
            Err(TrySendError::Disconnected(_)) => self.stopped = true,
        }
    }

    fn deliver(&mut self, (seq, items): Batch<ItemOutcome>) {
        self.pending.insert(seq, items);
        while let Some(items) = self.pending.remove(&self.next_out) {
            self.next_out += 1;
            for item in items {
                if !self.stopped && (self.on_item)(item).is_break() {
                    self.stopped = true;
                }
            }
        }
    }

    /// Sends the last partial batch, closes the work queue and delivers everything left.
    fn finish(&mut self) {
        self.send();
        self.work_tx = None;
        while self.in_flight() > 0 {
            match self.done_rx.recv() {
                Ok(done) => self.deliver(done),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::feedgen;
    use crate::ingest::tests::opts;

    fn collect(
        bytes: &[u8],
        workers: usize,
        stop_after: usize,
    ) -> (Vec<ItemOutcome>, ParseSummary) {
        let mut items = Vec::new();
        let summary = parse_parallel(
            bytes,
            &opts("https://feeds.example.net/jobs"),
            workers,
            &mut |i| {
                items.push(i);
                if items.len() >= stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        (items, summary)
    }

    #[test]
    fn parallel_parse_gives_the_same_items_in_the_same_order_as_parse() {
        let mut feed = Vec::new();
        feedgen::write_wpjm_feed(&mut feed, 300).unwrap_or_default();
        // An item that fails, so failures keep their place too.
        let feed = String::from_utf8_lossy(&feed)
            .replacen(
                "<title>Senior Rust Engineer &#8211; Platform #150</title>",
                "",
                1,
            )
            .into_bytes();
        let (sequential, s1) = collect(&feed, 1, usize::MAX);
        let (parallel, s2) = collect(&feed, 3, usize::MAX);
        assert_eq!(sequential.len(), 300);
        assert!(sequential[150].is_err());
        assert_eq!(sequential, parallel);
        assert_eq!((s1.items, s1.error), (s2.items, s2.error));
    }

    #[test]
    fn batches_the_calling_thread_normalizes_keep_their_place() {
        let mut feed = Vec::new();
        feedgen::write_wpjm_feed(&mut feed, 2000).unwrap_or_default();
        let (sequential, _) = collect(&feed, 1, usize::MAX);
        // No queue: a batch goes to a worker only if one is waiting at that moment.
        let mut items = Vec::new();
        let (summary, inline) = parse_with_queue(
            feed.as_slice(),
            &opts("https://feeds.example.net/jobs"),
            2,
            0,
            &mut |i| {
                items.push(i);
                ControlFlow::Continue(())
            },
        );
        assert!(inline > 0, "the calling thread normalized no batch");
        assert_eq!(summary.items, 2000);
        assert_eq!(items, sequential);
    }

    #[test]
    fn breaking_from_the_callback_stops_delivery() {
        let mut feed = Vec::new();
        feedgen::write_wpjm_feed(&mut feed, 1000).unwrap_or_default();
        let (items, summary) = collect(&feed, 2, 10);
        assert_eq!(items.len(), 10);
        assert!(summary.items < 1000 && summary.error.is_none());
    }
}
