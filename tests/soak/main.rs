//! A fault-injection soak: seeded random scenarios (feeds that change, fail and are cut off;
//! daemons killed, frozen and restarted; Redis and FerretDB restarted; the job index lost; a
//! fresh database under an old index) played against real daemon processes, Redis and
//! FerretDB of its own, and what was stored is checked against a model computed from the feed
//! versions alone. A failure prints the seed and the scenario's steps; `SEED=<n>` replays it.
//!
//! Environment: `SEED` (one scenario), `SOAK_SCENARIOS` (how many, default 10),
//! `SOAK_FIRST_SEED` (seed of the first, default 1; the others follow), `SOAK_STEPS` (most
//! steps per scenario, default 24), `SOAK_REGRESSIONS=0` (skip the kept seeds of
//! `regressions.txt`), `SOAK_BIN` (the daemon binary; default: this build's debug binary),
//! `SOAK_DIR` (logs; default a temporary folder), `SOAK_DAEMON_LOG` (the daemons' log filter).

mod check;
mod daemons;
mod feed_server;
mod feeds;
mod model;
mod runner;
mod scenario;
mod services;

use std::path::PathBuf;
use std::time::Instant;

use runner::Services;
use scenario::Scenario;
use services::{Kind, Server};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Seeds kept because they once found a defect: one per line, `#` starts a comment.
fn regressions() -> Vec<u64> {
    include_str!("regressions.txt")
        .lines()
        .filter_map(|l| l.split('#').next())
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn seeds() -> Vec<u64> {
    if let Some(s) = env_u64("SEED") {
        return vec![s];
    }
    let mut out = Vec::new();
    if std::env::var("SOAK_REGRESSIONS").as_deref() != Ok("0") {
        out.extend(regressions());
    }
    let n = env_u64("SOAK_SCENARIOS").unwrap_or(10);
    let first = env_u64("SOAK_FIRST_SEED").unwrap_or(1);
    out.extend((0..n).map(|i| first.wrapping_add(i)));
    // A kept seed that is also among the scenarios plays once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(*s));
    out
}

fn main() {
    let root = std::env::var_os("SOAK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("job-importer-soak-{}", std::process::id()))
        });
    let max_steps = env_u64("SOAK_STEPS").unwrap_or(24) as usize;
    // The soak's own HTTP clients use the same TLS provider as the daemon.
    job_importer::ingest::fetch::install_crypto_provider();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: no runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(soak(root, max_steps));
    std::process::exit(code);
}

async fn soak(root: PathBuf, max_steps: usize) -> i32 {
    let seeds = seeds();
    let started = Instant::now();
    println!(
        "soak: {} scenarios, daemon {}, logs under {}",
        seeds.len(),
        daemons::binary().display(),
        root.display()
    );
    let services = async {
        Ok::<_, String>(Services {
            redis: Server::start(Kind::Redis, &root)?,
            mongo: Server::start(Kind::FerretDb, &root)?,
        })
    };
    let mut svc = match services.await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: could not start the services: {e}");
            return 2;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for (n, &seed) in seeds.iter().enumerate() {
        let sc = Scenario::generate(seed, max_steps);
        let t = Instant::now();
        match runner::run(&sc, &mut svc, &root).await {
            Ok(out) if out.violations.is_empty() => {
                passed += 1;
                println!(
                    "scenario {}/{} seed {seed}: ok, {}",
                    n + 1,
                    seeds.len(),
                    out.summary
                );
            }
            Ok(out) => {
                failed += 1;
                failures.push(seed);
                println!(
                    "scenario {}/{} seed {seed}: FAILED with {} violations, {}\n{}\nviolations:\n{}\nwhat the steps did:\n{}\nreplay: make soak SEED={seed}   (daemon logs: {}/seed-{seed})\n",
                    n + 1,
                    seeds.len(),
                    out.violations.len(),
                    out.summary,
                    sc.describe(),
                    out.violations
                        .iter()
                        .map(|v| format!("  - {v}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    out.notes
                        .iter()
                        .map(|v| format!("  {v}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    root.display()
                );
            }
            Err(e) => {
                failed += 1;
                failures.push(seed);
                println!(
                    "scenario {}/{} seed {seed}: could not be played after {:.0?}: {e}\n{}",
                    n + 1,
                    seeds.len(),
                    t.elapsed(),
                    sc.describe()
                );
            }
        }
    }
    println!("soak: took {:.0?}", started.elapsed());
    if !failures.is_empty() {
        println!("soak: failed seeds: {failures:?}");
    }
    println!("soak: {passed} passed, {failed} failed");
    if failed > 0 {
        1
    } else {
        if std::env::var_os("SOAK_DIR").is_none() {
            std::fs::remove_dir_all(&root).ok();
        }
        0
    }
}
