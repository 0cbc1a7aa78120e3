//! Import pipeline benchmark: a generated feed of N new items served from a loopback HTTP server
//! and imported through the daemon (a separate release process, default settings except the
//! feed-size caps), then imported again unchanged; baseline: `insert_many` of the same
//! documents the daemon stored (built by its own code path and checked equal to what it
//! stored) through the same driver in batches of 1,000, in the same run, into a collection
//! without indexes; beside it the same into a collection with the indexes the daemon keeps on
//! `jobs`, and the smaller documents earlier runs of this benchmark used as their baseline.
//!
//! Two feed shapes (`BENCH_SHAPE`): `small` (default; about 700 bytes per item) and `wp`, WP Job
//! Manager items with about 3 KB of HTML description each (`ingest::feedgen`, about 3.9 KB per
//! item). Also reported: the Redis memory the daemon holds per stored job once the first
//! import has ended (`used_memory` after it, less before it, over the items).
//!
//! `MONGODB_URI`, `REDIS_URL` name the services; `BENCH_ITEMS` (100000) and `BENCH_RUNS` (3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use job_importer::ingest::{ParseLimits, ParseOptions};
use mongodb::bson::{Document, RawDocumentBuf, doc};

fn feed(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 700);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:job_listing="https://bench.example"><channel><title>bench</title>"#);
    for i in 0..n {
        s.push_str(&format!(
            "<item><title>Engineer {i}</title><guid>https://bench.example/jobs/{i}</guid><link>https://bench.example/jobs/{i}</link><pubDate>Mon, 02 Nov 2026 10:00:00 +0000</pubDate><content:encoded><![CDATA[<p>Company {c} is hiring engineer {i}.</p><ul><li>Remote</li><li>Full time</li></ul><p><a href=\"https://bench.example/apply/{i}\">Apply</a></p>]]></content:encoded><job_listing:company><![CDATA[Company {c}]]></job_listing:company><job_listing:location><![CDATA[Anywhere]]></job_listing:location><job_listing:job_type><![CDATA[Full-Time]]></job_listing:job_type></item>",
            c = i % 997
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

/// Serves `body` to every GET, without validators (so a re-import really re-reads the feed).
fn serve(body: Arc<Vec<u8>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(db: &str, prefix: &str) -> Self {
        let port = free_port();
        let cfg = std::env::temp_dir().join(format!("job-importer-bench-{prefix}.toml"));
        std::fs::write(&cfg, "").unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_job-importer"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .env(
                "JOB_IMPORTER_LOG",
                std::env::var("JOB_IMPORTER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("JOB_IMPORTER__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("JOB_IMPORTER__AUTH__ADMIN_TOKEN", "bench")
            .env("JOB_IMPORTER__MONGODB__DATABASE", db)
            .env("JOB_IMPORTER__REDIS__PREFIX", prefix)
            .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
            // The only departures from the defaults: a 100k-item feed is over the default caps.
            .env(
                "JOB_IMPORTER__FETCH__MAX_BODY_BYTES",
                (1u64 << 30).to_string(),
            )
            .env("JOB_IMPORTER__FETCH__TOTAL_TIMEOUT_MS", "600000")
            .env("JOB_IMPORTER__PARSE__MAX_ITEMS", "1000000")
            .stdout(Stdio::null())
            .spawn()
            .expect("the daemon starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Triggers an import and waits for its end, as published by the daemon on the run's channel
/// (what every dashboard gets); the run is then read once from MongoDB. Polling the run's
/// document instead (every 50 ms until 2026-11-30) cost FerretDB a find of a growing document
/// per poll, on the same two cores as the import it measured.
async fn import(
    http: &reqwest::Client,
    d: &Daemon,
    db: &mongodb::Database,
    redis: &redis::Client,
    prefix: &str,
    source: &str,
) -> (f64, Document) {
    let mut updates = redis.get_async_pubsub().await.unwrap();
    updates
        .subscribe(job_importer::store::redis::Keys::new(prefix).history_channel())
        .await
        .unwrap();
    let mut updates = updates.into_on_message();
    let start = Instant::now();
    let r = http
        .post(format!(
            "http://127.0.0.1:{}/api/sources/{source}/import",
            d.port
        ))
        .bearer_auth("bench")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let run_id = r.json::<serde_json::Value>().await.unwrap()["run"]["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(600), updates.next())
            .await
            .expect("the run ends within 10 minutes")
            .expect("the channel stays open");
        let v: serde_json::Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap();
        let data = &v["data"];
        let st = data["status"].as_str().unwrap_or("");
        if data["_id"].as_str() == Some(run_id.as_str()) && st != "queued" && st != "running" {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let run = db
        .collection::<Document>("import_logs")
        .find_one(doc! {"_id": &run_id})
        .await
        .unwrap()
        .unwrap();
    (elapsed, run)
}

/// `insert_many` of `docs` in calls of 1,000, unordered; seconds.
async fn insert_all(db: &mongodb::Database, docs: &[RawDocumentBuf]) -> f64 {
    let jobs = db.collection::<RawDocumentBuf>("jobs");
    let t = Instant::now();
    for chunk in docs.chunks(1000) {
        jobs.insert_many(chunk.to_vec())
            .ordered(false)
            .await
            .unwrap();
    }
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mongo_uri =
        std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into());
    let shape = std::env::var("BENCH_SHAPE").unwrap_or_else(|_| "small".into());
    let body = Arc::new(match shape.as_str() {
        "wp" => {
            let mut out = Vec::new();
            job_importer::ingest::feedgen::write_wpjm_feed(&mut out, n).unwrap();
            out
        }
        _ => feed(n),
    });
    eprintln!(
        "feed ({shape}): {n} items, {:.1} MB",
        body.len() as f64 / 1e6
    );
    let port = serve(body.clone());
    let client = mongodb::Client::with_uri_str(&mongo_uri).await.unwrap();
    let redis = redis::Client::open(
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into()),
    )
    .unwrap();
    job_importer::ingest::fetch::install_crypto_provider();
    let http = reqwest::Client::new();

    // The normalized documents, for the baseline.
    let mut postings = Vec::with_capacity(n);
    let opts = ParseOptions {
        limits: ParseLimits {
            max_items: n + 1,
            ..Default::default()
        },
        base_url: None,
        header_charset: None,
        format: Default::default(),
        mapping: None,
    };
    job_importer::ingest::parse(std::io::Cursor::new(body.as_slice()), &opts, &mut |item| {
        if let Ok(p) = item {
            postings.push(p);
        }
        std::ops::ControlFlow::Continue(())
    });
    assert_eq!(postings.len(), n);

    let (mut first, mut again, mut rss, mut writes) = (vec![], vec![], vec![], vec![]);
    let mut redis_per_job = vec![];
    let (mut base, mut base_idx, mut base_old) = (vec![], vec![], vec![]);
    for run_no in 0..runs {
        let tag = format!("bench{}{}", std::process::id(), run_no);

        // Through the daemon.
        let db = client.database(&tag);
        let d = Daemon::start(&tag, &tag);
        let r = http
            .post(format!("http://127.0.0.1:{}/api/sources", d.port))
            .bearer_auth("bench")
            .json(&serde_json::json!({"name": "bench", "url": format!("http://127.0.0.1:{port}/feed.xml"), "enabled": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let before = redis_used_memory(&redis).await;
        let (t1, run1) = import(&http, &d, &db, &redis, &tag, "bench").await;
        let after = redis_used_memory(&redis).await;
        redis_per_job.push((after - before) / n as f64);
        assert_eq!(run1.get_str("status").unwrap(), "completed", "{run1}");
        assert_eq!(run1.get_i64("newJobs").unwrap(), n as i64);
        let before_second = job_importer::domain::time::format(&chrono::Utc::now());
        let (t2, run2) = import(&http, &d, &db, &redis, &tag, "bench").await;
        assert_eq!(run2.get_i64("unchangedJobs").unwrap(), n as i64, "{run2}");
        let written = db
            .collection::<Document>("jobs")
            .count_documents(doc! {"updatedAt": {"$gte": &before_second}})
            .await
            .unwrap();
        writes.push(written as f64);
        rss.push(d.peak_rss_mb());
        first.push(t1);
        again.push(t2);
        drop(d);
        let stages = |r: &Document| {
            r.get_document("durations")
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        eprintln!(
            "run {run_no}: import {t1:.2}s, re-import {t2:.2}s, peak RSS {:.0} MB; stages of the \
             first import: {}; of the re-import: {}",
            rss[run_no],
            stages(&run1),
            stages(&run2),
        );

        // Baseline: insert_many of the documents the daemon wrote, batches of 1,000. They are
        // built by the daemon's own code path with the first run's ids and each job's
        // timestamp, and checked equal to what the daemon stored.
        let stored: Vec<Document> = db
            .collection::<Document>("jobs")
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(stored.len(), n);
        let by_id: std::collections::HashMap<&str, &Document> = stored
            .iter()
            .map(|d| (d.get_str("_id").unwrap(), d))
            .collect();
        let run_id = run1.get_str("_id").unwrap();
        let source_id = run1.get_str("sourceId").unwrap();
        let publisher = stored[0].get_str("publisher").unwrap();
        let docs: Vec<RawDocumentBuf> = postings
            .iter()
            .map(|p| {
                let id = job_importer::store::mongo::jobs::job_id(publisher, &p.external_id);
                let theirs = by_id[id.as_str()];
                let read_at = theirs.get_str("firstSeenAt").unwrap();
                let now = theirs.get_str("updatedAt").unwrap();
                let ours = job_importer::store::mongo::jobs::new_job_document(
                    publisher, source_id, run_id, p, read_at, now,
                )
                .unwrap();
                assert_eq!(
                    &Document::try_from(ours.as_ref()).unwrap(),
                    theirs,
                    "the baseline's document is the daemon's"
                );
                ours
            })
            .collect();
        drop(by_id);
        drop(stored);
        db.drop().await.ok();

        let bdb = client.database(&format!("{tag}_base"));
        base.push(insert_all(&bdb, &docs).await);
        bdb.drop().await.ok();

        // The same, into a collection with the indexes the daemon keeps on `jobs`.
        let idb = client.database(&format!("{tag}_idx"));
        job_importer::store::Store::connect(&mongo_uri, idb.name(), Duration::from_secs(10))
            .await
            .unwrap()
            .ensure_indexes()
            .await
            .unwrap();
        base_idx.push(insert_all(&idb, &docs).await);
        idb.drop().await.ok();

        // The baseline of earlier runs of this benchmark (before 2026-11-30): the posting
        // serialized by `to_document` plus five fields, without the daemon's dedupe key,
        // run and timestamps: smaller documents than the daemon writes.
        let odb = client.database(&format!("{tag}_old"));
        let old: Vec<RawDocumentBuf> = postings
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut d = mongodb::bson::to_document(p).unwrap();
                d.insert("_id", format!("{i:032x}"));
                d.insert("publisher", "127.0.0.1");
                d.insert("contentHash", p.content_hash());
                d.insert("sources", vec!["bench"]);
                d.insert("status", "open");
                RawDocumentBuf::from_document(&d).unwrap()
            })
            .collect();
        base_old.push(insert_all(&odb, &old).await);
        odb.drop().await.ok();
        let bytes = |v: &[RawDocumentBuf]| v.iter().map(|d| d.as_bytes().len()).sum::<usize>();
        eprintln!(
            "run {run_no}: baseline {:.2}s ({:.1} MB of BSON), indexed {:.2}s, earlier baseline \
             {:.2}s ({:.1} MB), first/baseline {:.2}, first/indexed {:.2}, first/earlier {:.2}, \
             speed-up {:.1}x",
            base[run_no],
            bytes(&docs) as f64 / 1e6,
            base_idx[run_no],
            base_old[run_no],
            bytes(&old) as f64 / 1e6,
            base[run_no] / t1,
            base_idx[run_no] / t1,
            base_old[run_no] / t1,
            t1 / t2
        );
    }
    let (b, bi, f, a) = (median(base), median(base_idx), median(first), median(again));
    let bo = median(base_old);
    println!(
        "feed shape: {shape}, {n} items, {:.1} MB",
        body.len() as f64 / 1e6
    );
    println!();
    println!("| measure | median | items/s |");
    println!("|---|---|---|");
    println!(
        "| baseline insert_many (1,000 per call) | {b:.2} s | {:.0} |",
        n as f64 / b
    );
    println!(
        "| the same into a collection with the `jobs` indexes | {bi:.2} s | {:.0} |",
        n as f64 / bi
    );
    println!(
        "| earlier baseline (`to_document` + 5 fields, smaller documents) | {bo:.2} s | {:.0} |",
        n as f64 / bo
    );
    println!(
        "| first import through the daemon | {f:.2} s | {:.0} |",
        n as f64 / f
    );
    println!("| re-import, unchanged | {a:.2} s | {:.0} |", n as f64 / a);
    println!("| daemon peak RSS | {:.0} MB | |", median(rss));
    println!(
        "| Redis memory held per stored job | {:.0} bytes | |",
        median(redis_per_job)
    );
    println!(
        "| jobs written by the re-import | {:.0} | |",
        median(writes)
    );
    println!();
    println!(
        "ratio first import / baseline (items/s): {:.2} (goal >= 0.8)",
        b / f
    );
    println!(
        "ratio first import / baseline with the jobs indexes (items/s): {:.2}",
        bi / f
    );
    println!(
        "ratio first import / earlier baseline (items/s): {:.2}",
        bo / f
    );
    println!(
        "ratio re-import speed-up over first import: {:.1}x (goal >= 5x)",
        f / a
    );
}

/// Redis' `used_memory`, in bytes.
async fn redis_used_memory(redis: &redis::Client) -> f64 {
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
