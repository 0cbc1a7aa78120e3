//! [`parse_parallel`]: the contract of [`super::parse`] (same items, same order, same
//! summary), with normalization, which sanitizing dominates, spread over threads.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use encoding_rs::Encoding;

use super::charset::CharsetReader;
use super::item::Normalizer;
use super::{
    ItemOutcome, ParseOptions, ParseSummary, RawOutcome, charset_outcome, parse_decoded, parse_raw,
    unreadable,
};

/// Items per batch handed to a worker: enough to make the channel cost vanish, small enough
/// that the first items reach the callback quickly.
const BATCH: usize = 64;
/// Batches in flight per thread before the reader waits; this bounds memory.
const IN_FLIGHT_PER_THREAD: usize = 4;
/// Bytes per read on the read-ahead thread, and reads it may be ahead of the parser.
const READ_CHUNK: usize = 64 * 1024;
const READS_AHEAD: usize = 8;

/// Parses on the calling thread while `threads - 1` workers normalize batches of items and
/// one more thread reads the input ahead of the parser (reads, decompression and copies
/// overlap with parsing; it mostly waits, on a full queue or on the input); when
/// every worker is busy and their queue is full, the calling thread normalizes the batch
/// itself, so `threads` threads share the work without oversubscribing as many cores.
/// Results are handed to `on_item` on the calling thread in document order. With
/// `threads <= 1` this is [`super::parse`]. After `on_item` breaks, items already read are dropped,
/// so `summary.items` may count a few more items than were delivered.
pub fn parse_parallel<R: BufRead + Send>(
    reader: R,
    opts: &ParseOptions,
    threads: usize,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    parse_parallel_with(reader, opts, threads, true, on_item)
}

/// [`parse_parallel`] with the sanitizer switched off (`sanitize: false`): descriptions are
/// kept as found, with no text form. Only the benchmark measures this; the daemon always
/// sanitizes.
#[doc(hidden)]
pub fn parse_parallel_with<R: BufRead + Send>(
    reader: R,
    opts: &ParseOptions,
    threads: usize,
    sanitize: bool,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    if threads <= 1 {
        // What `parse` does, with the sanitizer as asked.
        let normalizer = normalizer(opts, sanitize);
        return parse_raw(reader, opts, &mut |raw: RawOutcome| {
            on_item(raw.and_then(|r| normalizer.normalize(r)))
        });
    }
    parse_with_queue(reader, opts, threads, threads - 1, sanitize, on_item).0
}

fn normalizer(opts: &ParseOptions, sanitize: bool) -> Normalizer<'_> {
    let mut n = Normalizer::new(&opts.limits, opts.base_url.as_ref());
    n.sanitize = sanitize;
    n
}

/// [`parse_parallel`] with `queue` batches waiting for the workers at most; also returns how
/// many batches the calling thread normalized itself.
fn parse_with_queue<R: BufRead + Send>(
    reader: R,
    opts: &ParseOptions,
    threads: usize,
    queue: usize,
    sanitize: bool,
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
            scope.spawn(move || normalize_batches(opts, sanitize, &rx, &tx));
        }
        drop(done_tx);
        let mut input = ReadAhead::spawn(scope, reader, opts.header_charset.as_deref());
        let mut order = InOrder {
            work_tx: Some(work_tx),
            done_rx,
            normalizer: normalizer(opts, sanitize),
            on_item,
            batch: Vec::with_capacity(BATCH),
            next_seq: 0,
            next_out: 0,
            pending: BTreeMap::new(),
            max_in_flight: threads * IN_FLIGHT_PER_THREAD,
            stopped: false,
            inline_batches: 0,
        };
        let summary = match input.open() {
            Ok(()) => {
                let mut summary = parse_decoded(&mut input, opts, &mut |raw| order.push(raw));
                charset_outcome(&mut summary, input.encoding, input.refused_label.as_deref());
                summary
            }
            Err(e) => unreadable(&e),
        };
        order.finish();
        (summary, order.inline_batches)
    })
}

type Batch<T> = (u64, Vec<T>);

/// What the read-ahead thread read: UTF-8 bytes (empty at the end of the input) or the error
/// that ended reading, with the charset state after it.
struct Chunk {
    read: io::Result<Vec<u8>>,
    encoding: Option<&'static Encoding>,
    refused_label: Option<Box<str>>,
}

/// The input, decoded to UTF-8 ([`CharsetReader`]) on a thread of its own up to
/// [`READS_AHEAD`] chunks ahead of the parser. Dropping it stops that thread at its next
/// read (the scope then waits for it).
struct ReadAhead {
    opened: Receiver<io::Error>,
    chunks: Receiver<Chunk>,
    /// Spent buffers go back to the reading thread for reuse.
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
    /// The charset state after the last chunk handed to the parser.
    encoding: Option<&'static Encoding>,
    refused_label: Option<Box<str>>,
}

impl ReadAhead {
    fn spawn<'scope, R: BufRead + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        inner: R,
        header_charset: Option<&'scope str>,
    ) -> Self {
        let (open_tx, opened) = mpsc::sync_channel::<io::Error>(1);
        let (tx, chunks) = mpsc::sync_channel::<Chunk>(READS_AHEAD);
        let (spent, recycled) = mpsc::sync_channel::<Vec<u8>>(READS_AHEAD + 2);
        scope.spawn(move || {
            let mut input = match CharsetReader::new(inner, header_charset) {
                Ok(r) => r,
                Err(e) => {
                    let _ = open_tx.send(e);
                    return;
                }
            };
            drop(open_tx);
            loop {
                let mut bytes = recycled.try_recv().unwrap_or_default();
                bytes.resize(READ_CHUNK, 0);
                let read = match input.read(&mut bytes) {
                    Ok(n) => {
                        bytes.truncate(n);
                        Ok(bytes)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                // The last message: the end of the input, or an error.
                let last = read.as_ref().map_or(true, Vec::is_empty);
                let chunk = Chunk {
                    read,
                    encoding: input.encoding(),
                    refused_label: input.refused_label().map(Into::into),
                };
                if tx.send(chunk).is_err() || last {
                    return;
                }
            }
        });
        Self {
            opened,
            chunks,
            spent,
            current: Vec::new(),
            pos: 0,
            done: false,
            encoding: None,
            refused_label: None,
        }
    }

    /// Waits until the charset reader has looked at the head of the input; its error, if
    /// that failed.
    fn open(&self) -> io::Result<()> {
        match self.opened.recv() {
            Ok(e) => Err(e),
            Err(_) => Ok(()),
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.current.len() && !self.done {
            let Ok(next) = self.chunks.recv() else {
                // The reading thread ended without a last message.
                self.done = true;
                break;
            };
            self.encoding = next.encoding;
            self.refused_label = next.refused_label;
            match next.read {
                Ok(bytes) if bytes.is_empty() => self.done = true,
                Ok(bytes) => {
                    let spent = std::mem::replace(&mut self.current, bytes);
                    let _ = self.spent.try_send(spent);
                    self.pos = 0;
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        Ok(&self.current[self.pos.min(self.current.len())..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

fn normalize_batches(
    opts: &ParseOptions,
    sanitize: bool,
    rx: &Mutex<Receiver<Batch<RawOutcome>>>,
    tx: &Sender<Batch<ItemOutcome>>,
) {
    let normalizer = normalizer(opts, sanitize);
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
    use crate::ingest::parse;
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
            true,
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

    /// Hands out its bytes a few at a time, then fails like a connection that drops.
    struct Failing<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.bytes.is_empty() {
                return Err(io::Error::other("connection reset"));
            }
            let n = out.len().min(self.step).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_ends_the_parse_as_it_does_without_threads() {
        let mut feed = Vec::new();
        feedgen::write_wpjm_feed(&mut feed, 500).unwrap_or_default();
        // Cut in the middle of item 300 or so, with reads that split every chunk.
        let cut = &feed[..feed.len() * 3 / 5];
        let opts = opts("https://feeds.example.net/jobs");
        let run = |threads: usize| {
            let mut items = Vec::new();
            let reader = io::BufReader::new(Failing {
                bytes: cut,
                step: 7_001,
            });
            let summary = parse_parallel(reader, &opts, threads, &mut |i| {
                items.push(i);
                ControlFlow::Continue(())
            });
            (items, summary)
        };
        let (sequential, s1) = run(1);
        let (parallel, s2) = run(3);
        assert!(sequential.len() > 250 && sequential.len() < 500);
        assert_eq!(sequential, parallel);
        let error = s2.error.expect("the parse ends with an error");
        assert_eq!(error.code, crate::domain::codes::PARSE_MALFORMED);
        assert!(error.message.contains("connection reset"), "{error:?}");
        assert_eq!(s1.error, Some(error));
    }

    #[test]
    fn charset_refusals_end_the_parse_as_they_do_without_threads() {
        let mut opts = opts("https://feeds.example.net/jobs");
        for (charset, body) in [
            ("iso-2022-kr", &b"\xf3"[..]),
            (
                "iso-2022-kr",
                &b"<rss><channel><item><title>a\xf3</title></item></channel></rss>"[..],
            ),
            (
                "iso-8859-1",
                &b"<rss><channel><item><title>caf\xe9</title></item></channel></rss>"[..],
            ),
        ] {
            opts.header_charset = Some(charset.into());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let s1 = parse(body, &opts, &mut |i| {
                a.push(i);
                ControlFlow::Continue(())
            });
            let s2 = parse_parallel(body, &opts, 2, &mut |i| {
                b.push(i);
                ControlFlow::Continue(())
            });
            assert_eq!(a, b, "{charset}");
            assert_eq!(
                (s1.items, &s1.error, s1.encoding),
                (s2.items, &s2.error, s2.encoding)
            );
        }
    }
}
