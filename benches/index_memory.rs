//! Job index memory benchmark: the Redis memory the job index holds per stored job at a
//! million stored jobs (`BENCH_JOBS`), written through the index's own API as imports write it:
//! one entry per job (created by one of 100 runs, carried by one of 5 sources of one
//! publisher), one dedupe key per job, and each source's complete set of open jobs. Baseline,
//! in the same run and the same Redis: the same jobs in the layout the index used before (per
//! job a text entry in one hash per publisher, the dedupe key in full, one plain set per
//! source), written with plain commands.
//!
//! `REDIS_URL` names the Redis (a scratch one: the benchmark writes under a random prefix and
//! deletes what it wrote).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use job_importer::config::{RedisSettings, Secret};
use job_importer::store::job_index::{Entry, JobIndex, source_tag, tag};
use job_importer::store::redis::Redis;

const SOURCES: usize = 5;
const RUNS: usize = 100;
const CHUNK: usize = 1_000;

fn job_id(i: usize) -> String {
    job_importer::store::mongo::jobs::job_id(
        "bench.example",
        &format!("https://bench.example/jobs/{i}"),
    )
}

fn dedupe_key(i: usize) -> String {
    format!("senior software engineer {i}|company {}", i % 997)
}

fn run_id(i: usize) -> String {
    format!("6750{:020x}", i % RUNS)
}

fn source_id(i: usize) -> String {
    format!("bench-category-{}", i % SOURCES)
}

async fn used_memory(c: &mut redis::aio::ConnectionManager) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench-index-{}", std::process::id());
    let redis = Redis::connect(&RedisSettings {
        url: Secret::new(url),
        prefix: prefix.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = redis.conn.clone();
    let epoch = uuid::Uuid::new_v4().simple().to_string();

    // This layout, through the index's API.
    let index = JobIndex::new(redis.clone(), &epoch);
    let before = used_memory(&mut c).await;
    let t = Instant::now();
    let mut by_source: Vec<Vec<String>> = vec![Vec::new(); SOURCES];
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let entries: Vec<(String, Entry)> = (start..end)
            .map(|i| {
                let e = Entry {
                    content_hash: tag(&format!("{i:064x}")),
                    created_by_run: Some(tag(&run_id(i))),
                    sources: vec![source_tag(&source_id(i))],
                    ..Default::default()
                };
                (job_id(i), e)
            })
            .collect();
        index.put(&entries).await.unwrap();
        let twins: Vec<(String, String)> =
            (start..end).map(|i| (dedupe_key(i), job_id(i))).collect();
        index.put_twins("bench.example", &twins).await.unwrap();
        for i in start..end {
            by_source[i % SOURCES].push(job_id(i));
        }
    }
    for (s, ids) in by_source.iter().enumerate() {
        index.fill_source(&source_id(s), ids).await.unwrap();
    }
    let compact = (used_memory(&mut c).await - before) / n as f64;
    let compact_secs = t.elapsed().as_secs_f64();
    // Every job is read back as written.
    let probe: Vec<String> = (0..n).step_by(n / 100 + 1).map(job_id).collect();
    let got = index.get(&probe).await.unwrap();
    assert_eq!(got.len(), probe.len(), "the index lost entries");
    redis
        .delete_matching(&JobIndex::pattern(&prefix, &epoch))
        .await
        .unwrap();

    // The earlier layout, with plain commands.
    let before = used_memory(&mut c).await;
    let old = format!("{prefix}:old");
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let mut pipe = redis::pipe();
        let jobs: Vec<(String, String)> = (start..end)
            .map(|i| {
                (
                    job_id(i),
                    format!("{i:064x}|{}|||o|{}", run_id(i), source_id(i)),
                )
            })
            .collect();
        pipe.hset_multiple(format!("{old}:jobs:bench.example"), &jobs)
            .ignore();
        let twins: Vec<(String, String)> = (start..end)
            .map(|i| (dedupe_key(i), format!("{}|bench.example", job_id(i))))
            .collect();
        pipe.hset_multiple(format!("{old}:dedupe"), &twins).ignore();
        for i in start..end {
            pipe.sadd(format!("{old}:src:{}", source_id(i)), job_id(i))
                .ignore();
        }
        let _: () = pipe.query_async(&mut c).await.unwrap();
    }
    let earlier = (used_memory(&mut c).await - before) / n as f64;
    redis.delete_matching(&format!("{old}:*")).await.unwrap();

    println!("| layout | jobs | Redis bytes per stored job | vs earlier layout |");
    println!("|---|---:|---:|---:|");
    println!(
        "| compact (this version; written in {compact_secs:.1} s) | {n} | {compact:.0} | {:.2}x |",
        compact / earlier
    );
    println!("| earlier (text entries, one set per source) | {n} | {earlier:.0} | 1.00x |");
}
