//! Read latency at scale: a database filled with N runs (`import_logs`) and N jobs shaped as
//! the daemon writes them (`ImportRun` encoded by the store's encoder; jobs built by the
//! daemon's own `new_job_document`), the run feed a FerretDB daemon keeps for the newest 400
//! runs (`Store::feed_run`), then a daemon with the `http` role started in-process against it,
//! and the reads a dashboard and a Prometheus scraper make timed over HTTP: `/metrics`, `/api/stats`
//! (default window, the longest window, one source), the first history page, the first jobs
//! page and a job search. Prints the median and p95 of each.
//!
//! `MONGODB_URI`, `REDIS_URL` name the services; `BENCH_READS_N` (1000000) documents of each
//! kind; `BENCH_READS_REQUESTS` (20) timed requests per read after one warm-up (a read whose
//! warm-up takes over 5 s is timed 3 times); `BENCH_READS_REUSE=1` keeps the database
//! (`bench_reads_{N}`) and fills it only when it holds fewer documents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use job_importer::app::{self, Roles};
use job_importer::config::{Secret, Settings};
use job_importer::domain::{ImportRun, JobPosting, RunStatus, Trigger};
use mongodb::bson::{Document, RawDocumentBuf};

const SOURCES: usize = 20;
const BATCH: usize = 10_000;
/// Runs whose states the run feed holds (the newest).
const FEED_RUNS: usize = 400;
const WORDS: [&str; 12] = [
    "rust", "python", "golang", "react", "kotlin", "data", "platform", "security", "mobile",
    "cloud", "backend", "frontend",
];

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `i` of `n`, spread over the last 120 days (newest last), mostly completed.
fn run(i: usize, n: usize, now: chrono::DateTime<Utc>) -> Document {
    job_importer::store::encode(&run_model(i, n, now)).unwrap()
}

fn run_model(i: usize, n: usize, now: chrono::DateTime<Utc>) -> ImportRun {
    let age = chrono::Duration::seconds(((n - i) as i64 * 120 * 86_400) / n as i64);
    let at = now - age;
    let s = i % SOURCES;
    let mut r = ImportRun::new_queued(
        format!("{:016x}{:016x}", at.timestamp_millis(), i),
        &format!("source-{s}"),
        &format!("Source {s}"),
        &format!("https://feeds.example/{s}.xml"),
        Trigger::Schedule,
        at,
    );
    r.status = match i % 20 {
        0 => RunStatus::Failed,
        1 => RunStatus::NotModified,
        2 => RunStatus::Partial,
        _ => RunStatus::Completed,
    };
    r.started_at = Some(at);
    r.finished_at = Some(at + chrono::Duration::seconds(4));
    r.updated_at = r.finished_at;
    r.total_fetched = 50;
    r.new_jobs = (i % 5) as i64;
    r.updated_jobs = (i % 3) as i64;
    r.unchanged_jobs = r.total_fetched - r.new_jobs - r.updated_jobs - 1;
    r.failed_jobs = 1;
    r.total_imported = r.new_jobs + r.updated_jobs;
    r.batches_total = Some(1);
    r.batches_done = 1;
    r.items_done = 50;
    r.version = 6;
    r
}

fn job(i: usize, now: chrono::DateTime<Utc>) -> RawDocumentBuf {
    let w = WORDS[i % WORDS.len()];
    let posting = JobPosting {
        external_id: format!("https://jobs.example/{i}"),
        title: format!("Senior {w} engineer {i}"),
        company: Some(format!("Company {}", i % 997)),
        locations: vec![["Berlin", "Remote", "Lisbon", "New York"][i % 4].to_owned()],
        remote: Some(i.is_multiple_of(2)),
        employment_type: None,
        categories: vec![w.to_owned()],
        description_html: Some(format!(
            "<p>Company {c} is hiring a {w} engineer ({i}).</p><ul><li>Remote</li><li>Full time</li></ul>",
            c = i % 997
        )),
        description_text: Some(format!(
            "Company {c} is hiring a {w} engineer ({i}). Remote. Full time.",
            c = i % 997
        )),
        url: Some(format!("https://jobs.example/{i}")),
        date_posted: Some(now - chrono::Duration::minutes(i as i64)),
        ..Default::default()
    };
    let s = format!("source-{}", i % SOURCES);
    let stamp = job_importer::domain::time::format(&now);
    job_importer::store::mongo::jobs::new_job_document(
        "jobs.example",
        &s,
        "bench-run",
        &posting,
        &stamp,
        &stamp,
    )
    .unwrap()
}

async fn fill(db: &mongodb::Database, n: usize) {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .unwrap()
        .max(Utc::now());
    let logs = db.collection::<Document>("import_logs");
    let have = logs.estimated_document_count().await.unwrap() as usize;
    if have < n {
        let t = Instant::now();
        for start in (have..n).step_by(BATCH) {
            let docs: Vec<Document> = (start..(start + BATCH).min(n))
                .map(|i| run(i, n, now))
                .collect();
            logs.insert_many(docs).ordered(false).await.unwrap();
        }
        eprintln!(
            "filled {} runs in {:.0} s",
            n - have,
            t.elapsed().as_secs_f64()
        );
    }
    // The run feed (on a server that keeps one, see `store::mongo::run_feed`): what the daemon
    // appends for the newest runs, each created (its first version) and then ended.
    let feed = db.collection::<Document>("run_feed");
    if feed.estimated_document_count().await.unwrap() == 0 {
        let t = Instant::now();
        let store = job_importer::store::mongo::Store::connect(
            &std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into()),
            db.name(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        store.ensure_indexes().await.unwrap();
        store.ensure_run_feed().await.unwrap();
        for i in n.saturating_sub(FEED_RUNS)..n {
            let ended = run_model(i, n, now);
            let mut created = ended.clone();
            created.version = 1;
            created.status = RunStatus::Queued;
            store.feed_run(&created).await.unwrap();
            store.feed_run(&ended).await.unwrap();
        }
        eprintln!(
            "fed the newest {FEED_RUNS} runs in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let jobs = db.collection::<RawDocumentBuf>("jobs");
    let have = jobs.estimated_document_count().await.unwrap() as usize;
    if have < n {
        let t = Instant::now();
        for start in (have..n).step_by(BATCH) {
            let docs: Vec<RawDocumentBuf> = (start..(start + BATCH).min(n))
                .map(|i| job(i, now))
                .collect();
            jobs.insert_many(docs).ordered(false).await.unwrap();
        }
        eprintln!(
            "filled {} jobs in {:.0} s",
            n - have,
            t.elapsed().as_secs_f64()
        );
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = env_or("BENCH_READS_N", 1_000_000);
    let requests: usize = env_or("BENCH_READS_REQUESTS", 20);
    let reuse = std::env::var("BENCH_READS_REUSE").is_ok_and(|v| v == "1");
    let mongo_uri =
        std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into());
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let db_name = if reuse {
        format!("bench_reads_{n}")
    } else {
        format!("bench_reads_{}", &tag[..12])
    };
    let client = mongodb::Client::with_uri_str(&mongo_uri).await.unwrap();
    let db = client.database(&db_name);
    eprintln!("database {db_name}: {n} runs and {n} jobs");
    let t = Instant::now();
    fill(&db, n).await;
    eprintln!("fill: {:.0} s", t.elapsed().as_secs_f64());

    // What a daemon does once on a database written before its counters existed.
    let store =
        job_importer::store::mongo::Store::connect(&mongo_uri, &db_name, Duration::from_secs(10))
            .await
            .unwrap();
    if !store.run_counts_ready().await.unwrap() {
        let t = Instant::now();
        let c = store.recount_runs().await.unwrap();
        eprintln!(
            "run counters recounted ({} runs) in {:.0} s",
            c.runs,
            t.elapsed().as_secs_f64()
        );
    }

    let mut s = Settings::default();
    s.http.bind = "127.0.0.1:0".into();
    s.auth.admin_token = Secret::new("bench-reads-token");
    s.mongodb.uri = Secret::new(mongo_uri.clone());
    s.mongodb.database = db_name.clone();
    s.redis.url = Secret::new(redis_url);
    s.redis.prefix = format!("bench-reads:{}", &tag[..12]);
    let t = Instant::now();
    // A daemon that serves the API only: the passes of a scheduler's daemon (retention, the
    // sweeps, link checks) would change the database and share the machine while it is timed.
    let roles: Roles = "http".parse().unwrap();
    let daemon = tokio::task::spawn_blocking(move || app::spawn(s, roles))
        .await
        .unwrap()
        .expect("the daemon starts");
    eprintln!(
        "daemon started in {:.0} s (index builds included)",
        t.elapsed().as_secs_f64()
    );
    job_importer::ingest::fetch::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let reads = [
        ("GET /metrics", "/metrics".to_owned()),
        ("GET /api/stats (24 h, 14 d)", "/api/stats".to_owned()),
        (
            "GET /api/stats (168 h, 90 d)",
            "/api/stats?hours=168&days=90".to_owned(),
        ),
        (
            "GET /api/stats (one source)",
            "/api/stats?source=source-3".to_owned(),
        ),
        (
            "GET /api/import-logs (first page)",
            "/api/import-logs?page=1&limit=20".to_owned(),
        ),
        (
            "GET /api/jobs (first page)",
            "/api/jobs?page=1&limit=20".to_owned(),
        ),
        (
            "GET /api/jobs?q=rust",
            "/api/jobs?q=rust&page=1&limit=20".to_owned(),
        ),
    ];
    println!("| read ({n} runs, {n} jobs) | median ms | p95 ms | answered |");
    println!("|---|---:|---:|---:|");
    for (name, path) in reads {
        let get = || {
            http.get(format!("{}{path}", daemon.base_url()))
                .bearer_auth("bench-reads-token")
                .send()
        };
        // One warm-up; a read that fails (its time limit) is reported with its error, once.
        let t = Instant::now();
        let r = get().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        let warm = t.elapsed();
        if !status.is_success() {
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            println!(
                "| {name} | {status} `{code}` after {:.1} s | | 1 |",
                warm.as_secs_f64()
            );
            continue;
        }
        let count = if warm > Duration::from_secs(5) {
            3
        } else {
            requests
        };
        let mut ms = Vec::with_capacity(count);
        for _ in 0..count {
            let t = Instant::now();
            let r = get().await.unwrap();
            let ok = r.status().is_success();
            r.bytes().await.unwrap();
            if ok {
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        if ms.is_empty() {
            println!("| {name} | failed after the warm-up | | {count} |");
            continue;
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {name} | {:.1} | {:.1} | {}/{count} |",
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            ms.len()
        );
    }
    daemon.stop();
    if !reuse {
        db.drop().await.ok();
    }
}
