//! Ingestion benchmark, one variant per process so peak RSS is its own: `gen ITEMS PATH`
//! writes a generated WP Job Manager feed; `run VARIANT PATH` parses it and prints
//! `variant items bytes seconds peak_rss_kib`. `scripts/bench-ingest.sh` drives it.

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::ops::ControlFlow;
use std::time::Instant;

use job_importer::domain::source::SourceFormat;
use job_importer::ingest::sanitize::{Sanitizer, html_to_text};
use job_importer::ingest::{ParseLimits, ParseOptions, feedgen, parallel, parse, parse_raw, text};

/// The daemon's allocator, so that every variant runs as it would in the daemon.
#[global_allocator]
static GLOBAL: job_importer::alloc::Allocator = job_importer::alloc::ALLOCATOR;

type Res<T> = Result<T, Box<dyn Error>>;

/// Reads per `read` call: what a streaming reader over the network would see.
const READ_BUF: usize = 64 * 1024;

fn main() -> Res<()> {
    // `cargo bench` appends `--bench`; ignore it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", items, path] => {
            let mut w = BufWriter::new(File::create(path)?);
            let bytes = feedgen::write_wpjm_feed(&mut w, items.parse()?)?;
            w.flush()?;
            println!("{bytes}");
        }
        ["run", variant, path] => {
            let bytes = std::fs::metadata(path)?.len();
            let started = Instant::now();
            let items = run(variant, path)?;
            let secs = started.elapsed().as_secs_f64();
            println!("{variant} {items} {bytes} {secs:.4} {}", peak_rss_kib()?);
        }
        _ => {
            return Err("usage: ingest gen ITEMS PATH | ingest run VARIANT PATH \
                 (variants: ours, ours-1t, ours-nosan, ours-nosan-1t, raw, floor, feedrs)"
                .into());
        }
    }
    Ok(())
}

/// Threads for the two-core variants: `nproc`, or `INGEST_THREADS`.
fn threads() -> Res<usize> {
    Ok(match std::env::var("INGEST_THREADS") {
        Ok(w) => w.parse()?,
        Err(_) => std::thread::available_parallelism().map_or(2, usize::from),
    })
}

fn options() -> Res<ParseOptions> {
    Ok(ParseOptions {
        // The benchmark reads every item; the production cap is 10,000.
        limits: ParseLimits {
            max_items: usize::MAX,
            ..ParseLimits::default()
        },
        base_url: Some(url::Url::parse("https://jobs.example.com/feed/")?),
        header_charset: None,
        format: SourceFormat::Auto,
        mapping: None,
    })
}

fn run(variant: &str, path: &str) -> Res<usize> {
    let reader =
        || -> Res<BufReader<File>> { Ok(BufReader::with_capacity(READ_BUF, File::open(path)?)) };
    let opts = options()?;
    let mut n = 0usize;
    let mut count = |item: job_importer::ingest::ItemOutcome| {
        if item.is_ok() {
            n += 1;
        }
        ControlFlow::Continue(())
    };
    match variant {
        "ours" => {
            parallel::parse_parallel(reader()?, &opts, threads()?, &mut count);
        }
        "ours-1t" => {
            parse(reader()?, &opts, &mut count);
        }
        // `ours` without the sanitizer (descriptions kept as found, no text form).
        "ours-nosan" => {
            parallel::parse_parallel_with(reader()?, &opts, threads()?, false, &mut count);
        }
        "ours-nosan-1t" => {
            parallel::parse_parallel_with(reader()?, &opts, 1, false, &mut count);
        }
        // Only the reading side of `parse_parallel`: raw items, not normalized.
        "raw" => {
            parse_raw(reader()?, &opts, &mut |raw| {
                if raw.is_ok() {
                    n += 1;
                }
                ControlFlow::Continue(())
            });
        }
        "floor" => return floor(reader()?),
        "feedrs" => return feedrs(reader()?, &opts),
        other => return Err(format!("unknown variant {other}").into()),
    }
    Ok(n)
}

/// The floor: a bare quick-xml loop that reads every event and unescapes every text node
/// (line endings normalized, entity and character references resolved).
fn floor(reader: BufReader<File>) -> Res<usize> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let (mut items, mut chars) = (0usize, 0usize);
    loop {
        match r.read_event_into(&mut buf)? {
            Event::Start(e) if e.name().as_ref() == "item" => items += 1,
            Event::Text(t) => chars += t.xml10_content().len(),
            Event::CData(c) => chars += c.xml10_content().len(),
            // quick-xml reports `&name;` between text events; resolving it is the unescaping.
            Event::GeneralRef(r) => {
                chars += match r.resolve_char_ref()? {
                    Some(c) => c.len_utf8(),
                    None => quick_xml::escape::resolve_xml_entity(&r).map_or(0, str::len),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    std::hint::black_box(chars);
    Ok(items)
}

/// The baseline: feed-rs builds the whole feed, then each entry gets the same ammonia policy
/// and text extraction as ours, one core.
fn feedrs(reader: BufReader<File>, opts: &ParseOptions) -> Res<usize> {
    let feed = feed_rs::parser::parse(reader)?;
    let sanitizer = Sanitizer::new(opts.base_url.as_ref());
    let lim = &opts.limits;
    let mut n = 0;
    for e in &feed.entries {
        let title = e
            .title
            .as_ref()
            .and_then(|t| text::plain(&t.content, lim.max_title_chars));
        let html = e
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .or(e.summary.as_ref().map(|s| s.content.as_str()))
            .and_then(|d| sanitizer.html(d, lim.max_description_chars));
        let text = html
            .as_deref()
            .and_then(|h| html_to_text(h, lim.max_description_chars));
        std::hint::black_box((title, text));
        n += 1;
    }
    Ok(n)
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> Res<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmHWM")?
        .parse()?)
}
