//! Plays one scenario: starts its feed server and daemons, creates the sources, runs the steps
//! (feed changes, triggers, faults), waits until the system is quiet, reads back what was
//! stored and checks it. Every wait has a deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::check::{self, Input};
use crate::daemons::{Daemon, Env, TOKEN};
use crate::feed_server::FeedServer;
use crate::feeds::publisher_name;
use crate::model::{self, Time};
use crate::scenario::{DAEMON_ROLES, Scenario, Step};
use crate::services::Server;

pub struct Services {
    pub redis: Server,
    pub mongo: Server,
}

pub struct Outcome {
    pub violations: Vec<String>,
    /// What each step did (answers, exit statuses), by step number.
    pub notes: Vec<String>,
    pub summary: String,
}

/// How long the end of a scenario may wait for every run to end.
const QUIET_LIMIT: Duration = Duration::from_secs(150);
const HTTP_LIMIT: Duration = Duration::from_secs(30);

struct Ctx<'a> {
    sc: &'a Scenario,
    svc: &'a mut Services,
    env: Env,
    feed: FeedServer,
    daemons: Vec<Daemon>,
    http: reqwest::Client,
    mongo: mongodb::Client,
    source_ids: Vec<String>,
    archived: Vec<Document>,
    wipes: Vec<Time>,
    leases_lost: bool,
    violations: Vec<String>,
    notes: Vec<String>,
}

pub async fn run(sc: &Scenario, svc: &mut Services, root: &Path) -> Result<Outcome, String> {
    let dir = root.join(format!("seed-{}", sc.seed));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tag = format!(
        "{}_{}",
        sc.seed,
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    );
    let env = Env {
        mongo_uri: svc.mongo.url(),
        database: format!("soak_{tag}"),
        redis_url: svc.redis.url(),
        prefix: format!("soak:{tag}"),
        knobs: sc.knobs.clone(),
        dir: dir.clone(),
    };
    let mongo =
        mongodb::Client::with_uri_str(format!("{}?serverSelectionTimeoutMS=3000", env.mongo_uri))
            .await
            .map_err(|e| format!("mongodb client: {e}"))?;
    let feed = FeedServer::start(sc.feeds.clone(), sc.seed).await;
    let mut daemons = Vec::new();
    for i in 0..DAEMON_ROLES.len() {
        daemons.push(Daemon::new(i, &env)?);
    }
    let mut cx = Ctx {
        sc,
        svc,
        env,
        feed,
        daemons,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?,
        mongo,
        source_ids: Vec::new(),
        archived: Vec::new(),
        wipes: Vec::new(),
        leases_lost: false,
        violations: Vec::new(),
        notes: Vec::new(),
    };
    let started = Instant::now();
    cx.create_sources().await?;
    for (i, step) in sc.steps.iter().enumerate() {
        let note = cx.step(i, step).await;
        if !note.is_empty() {
            cx.notes.push(format!("{}. {note}", i + 1));
        }
    }
    let out = cx.finish().await;
    let summary = format!("{} in {:.0?}", out.1, started.elapsed());
    for d in &mut cx.daemons {
        d.stop("KILL", Duration::from_secs(5));
    }
    cx.cleanup().await;
    Ok(Outcome {
        violations: out.0,
        notes: cx.notes,
        summary,
    })
}

impl Ctx<'_> {
    fn db(&self) -> mongodb::Database {
        self.mongo.database(&self.env.database)
    }

    /// Whether two runs started by triggers sent at once were in progress together. On a busy
    /// machine the second request may be served after the first run ended (a `304` run takes
    /// milliseconds): starting it then is right. Undecidable runs count as overlapping.
    async fn overlapped(&self, a: &str, b: &str) -> bool {
        let id = |s: &str| s.trim_start_matches("202 run ").to_owned();
        let logs = self.db().collection::<Document>("import_logs");
        let mut runs = Vec::new();
        for run_id in [id(a), id(b)] {
            match logs.find_one(doc! {"_id": &run_id}).await {
                Ok(Some(d)) => runs.push(d),
                _ => return true,
            }
        }
        let started = |d: &Document| d.get_str("importDateTime").unwrap_or("").to_owned();
        runs.sort_by_key(started);
        match runs[0].get_str("finishedAt") {
            Ok(ended) => ended > started(&runs[1]).as_str(),
            Err(_) => true,
        }
    }

    fn front(&self, i: usize) -> String {
        self.daemons[i].base_url().unwrap_or_default()
    }

    async fn create_sources(&mut self) -> Result<(), String> {
        self.source_ids.clear();
        for (i, s) in self.sc.feeds.sources.iter().enumerate() {
            let body = json!({
                "name": s.name,
                "url": self.feed.url(i),
                "publisher": publisher_name(s.publisher),
                "cron": s.cron.clone().unwrap_or_else(|| "0 0 0 1 1 *".into()),
                // The model knows both rules: `complete` counts every miss, `window` only
                // those of jobs not older than the run's oldest item (`check::expiry`).
                "expiry": s.expiry(),
            });
            let url = format!("{}/api/sources", self.front(0));
            let (status, v) = self.call(reqwest::Method::POST, &url, Some(&body)).await;
            if status != 201 {
                return Err(format!("creating source {i}: {status} {v}"));
            }
            self.source_ids
                .push(v["_id"].as_str().unwrap_or_default().to_owned());
        }
        Ok(())
    }

    /// A call to a daemon's API, tried again while the daemon or its stores are coming back
    /// (connection refused, 5xx), until `HTTP_LIMIT`; returns the last status and body.
    async fn call(&self, m: reqwest::Method, url: &str, body: Option<&Value>) -> (u16, Value) {
        let deadline = Instant::now() + HTTP_LIMIT;
        loop {
            let mut req = self.http.request(m.clone(), url).bearer_auth(TOKEN);
            if let Some(b) = body {
                req = req.json(b);
            }
            let (status, v) = match req.send().await {
                Ok(r) => {
                    let st = r.status().as_u16();
                    (st, r.json().await.unwrap_or(Value::Null))
                }
                Err(e) => (0, Value::String(e.to_string())),
            };
            if (status != 0 && status < 500) || Instant::now() > deadline {
                return (status, v);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn trigger(&self, source: usize, daemon: usize) -> String {
        // Missing when re-creating the sources after a fresh database failed (a violation
        // of its own).
        let Some(id) = self.source_ids.get(source) else {
            return format!("source {source} does not exist");
        };
        let url = format!("{}/api/sources/{id}/import", self.front(daemon));
        let (st, v) = self.call(reqwest::Method::POST, &url, None).await;
        match st {
            202 => format!("202 run {}", v["run"]["_id"].as_str().unwrap_or("?")),
            409 => "409".into(),
            _ => format!("{st} {v}"),
        }
    }

    async fn step(&mut self, i: usize, step: &Step) -> String {
        let mut rng = StdRng::seed_from_u64(self.sc.seed.wrapping_mul(1000).wrapping_add(i as u64));
        match *step {
            Step::Advance {
                source, version, ..
            } => {
                self.feed.set_version(source, version);
                String::new()
            }
            Step::Trigger { source, daemon } => self.trigger(source, daemon).await,
            Step::TriggerTwice { source } => {
                let (a, b) = tokio::join!(self.trigger(source, 0), self.trigger(source, 1));
                if a.starts_with("202") && b.starts_with("202") && self.overlapped(&a, &b).await {
                    self.violations.push(format!(
                        "step {}: both daemons started a run of source {source}: {a}; {b}",
                        i + 1
                    ));
                }
                format!("{a}; {b}")
            }
            Step::Sleep { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                String::new()
            }
            Step::Kill {
                daemon,
                signal,
                pause_ms,
            } => {
                let exit = self.daemons[daemon]
                    .stop(signal, crate::daemons::EXIT_LIMIT)
                    .unwrap_or_default();
                if signal == "TERM" && !exit.contains("exit status: 0") {
                    self.violations.push(format!(
                        "step {}: daemon {daemon} did not exit 0 after SIGTERM: {exit}",
                        i + 1
                    ));
                }
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                match self.daemons[daemon].start(&self.env) {
                    Ok(()) => format!("exit: {exit}"),
                    Err(e) => {
                        self.violations.push(format!("step {}: {e}", i + 1));
                        e
                    }
                }
            }
            Step::Freeze { daemon, ms } => {
                self.daemons[daemon].signal("STOP");
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.daemons[daemon].signal("CONT");
                String::new()
            }
            Step::RestartRedis { loading, pause_ms } => {
                let mut note = String::new();
                if loading && let Err(e) = self.fill_redis().await {
                    note = format!("could not fill Redis: {e}");
                }
                self.svc.redis.down("KILL");
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                if let Err(e) = self.svc.redis.up() {
                    self.violations.push(format!("step {}: Redis: {e}", i + 1));
                }
                note
            }
            Step::RestartMongo { pause_ms } => {
                self.svc.mongo.down("TERM");
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                if let Err(e) = self.svc.mongo.up() {
                    self.violations
                        .push(format!("step {}: FerretDB: {e}", i + 1));
                }
                String::new()
            }
            Step::LoseIndex { part, everything } => {
                if everything {
                    self.leases_lost = true;
                }
                let pattern = if everything {
                    format!("{}:*", self.env.prefix)
                } else {
                    format!("{}:jobidx*", self.env.prefix)
                };
                match self.delete_keys(&pattern, part, &mut rng).await {
                    Ok(n) => format!("{n} keys deleted"),
                    Err(e) => format!("could not delete keys: {e}"),
                }
            }
            Step::FreshDatabase => match self.fresh_database().await {
                Ok(()) => String::new(),
                Err(e) => {
                    self.violations.push(format!("step {}: {e}", i + 1));
                    e
                }
            },
            Step::WaitQuiet => match self.wait_quiet(QUIET_LIMIT).await {
                Ok(()) => String::new(),
                Err(e) => {
                    self.violations.push(format!("step {}: {e}", i + 1));
                    e
                }
            },
        }
    }

    async fn redis(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let c = redis::Client::open(self.env.redis_url.as_str()).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Connected and done loading its data (`PING` answers `LOADING` until then).
            let ready = async {
                // DEBUG POPULATE and SCAN of a large database take longer than the client's
                // default response timeout.
                let cfg = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(Duration::from_secs(120)));
                let mut con = c.get_multiplexed_async_connection_with_config(&cfg).await?;
                redis::cmd("PING").query_async::<String>(&mut con).await?;
                Ok::<_, redis::RedisError>(con)
            };
            match ready.await {
                Ok(con) => return Ok(con),
                Err(e) if Instant::now() > deadline => return Err(e.to_string()),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Two million keys in database 9, written into the append-only file, so that the next
    /// start of Redis takes a while to load it (`LOADING` meanwhile).
    async fn fill_redis(&self) -> Result<(), String> {
        let mut con = self.redis().await?;
        let e = |e: redis::RedisError| e.to_string();
        redis::cmd("SELECT")
            .arg(9)
            .query_async::<()>(&mut con)
            .await
            .map_err(e)?;
        redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(2_000_000)
            .arg("soak-filler")
            .arg(64)
            .query_async::<()>(&mut con)
            .await
            .map_err(e)?;
        redis::cmd("BGREWRITEAOF")
            .query_async::<String>(&mut con)
            .await
            .map_err(e)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let info: String = redis::cmd("INFO")
                .arg("persistence")
                .query_async(&mut con)
                .await
                .map_err(e)?;
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the append-only file was not rewritten within 60 s".into());
            }
        }
    }

    async fn delete_keys(
        &self,
        pattern: &str,
        part: bool,
        rng: &mut StdRng,
    ) -> Result<usize, String> {
        let mut con = self.redis().await?;
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .map_err(|e| e.to_string())?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        if part {
            keys.retain(|_| rng.random_bool(0.5));
        }
        for k in &keys {
            redis::cmd("DEL")
                .arg(k)
                .query_async::<i64>(&mut con)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(keys.len())
    }

    async fn runs(&self) -> Result<Vec<Document>, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = async {
                self.db()
                    .collection::<Document>("import_logs")
                    .find(doc! {})
                    .projection(doc! {"batches": 0, "failures": 0})
                    .await?
                    .try_collect::<Vec<Document>>()
                    .await
            }
            .await;
            match r {
                Ok(d) => return Ok(d),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("reading import_logs: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// Until every run has ended, twice in a row a second apart.
    async fn wait_quiet(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut calm = 0;
        loop {
            let runs = self.runs().await?;
            let busy: Vec<String> = runs
                .iter()
                .filter(|d| matches!(d.get_str("status"), Ok("queued" | "running")))
                .map(|d| {
                    format!(
                        "{} ({}, source {})",
                        d.get_str("_id").unwrap_or("?"),
                        d.get_str("status").unwrap_or("?"),
                        d.get_str("sourceId").unwrap_or("?")
                    )
                })
                .collect();
            calm = if busy.is_empty() { calm + 1 } else { 0 };
            if calm >= 2 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "runs still in progress {limit:?} later: {}",
                    busy.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn fresh_database(&mut self) -> Result<(), String> {
        self.wait_quiet(QUIET_LIMIT).await?;
        for d in &mut self.daemons {
            d.stop("TERM", crate::daemons::EXIT_LIMIT);
        }
        // A run still in progress now (a cron tick after the quiet wait) loses its database
        // with the drop: it has no outcome to judge.
        let runs = self.runs().await?;
        self.archived.extend(
            runs.into_iter()
                .filter(|d| !matches!(d.get_str("status"), Ok("queued" | "running"))),
        );
        self.db()
            .drop()
            .await
            .map_err(|e| format!("dropping the database: {e}"))?;
        self.wipes.push(Utc::now());
        for d in &mut self.daemons {
            d.start(&self.env)?;
        }
        self.create_sources().await
    }

    /// Stops the schedules, waits for quiet, reads back and checks. Returns the violations
    /// and a one-line summary of the runs.
    async fn finish(&mut self) -> (Vec<String>, String) {
        for id in self.source_ids.clone() {
            let url = format!("{}/api/sources/{id}", self.front(0));
            let (st, v) = self
                .call(
                    reqwest::Method::PATCH,
                    &url,
                    Some(&json!({"enabled": false})),
                )
                .await;
            if st != 200 {
                self.violations
                    .push(format!("disabling source {id}: {st} {v}"));
            }
        }
        if let Err(e) = self.wait_quiet(QUIET_LIMIT).await {
            self.violations.push(e);
        }
        let mut docs = self.archived.clone();
        match self.runs().await {
            Ok(d) => docs.extend(d),
            Err(e) => self.violations.push(e),
        }
        let jobs = match async {
            self.db()
                .collection::<Document>("jobs")
                .find(doc! {})
                .await?
                .try_collect::<Vec<Document>>()
                .await
        }
        .await
        {
            Ok(j) => j,
            Err(e) => {
                self.violations.push(format!("reading jobs: {e}"));
                Vec::new()
            }
        };
        let runs: Vec<model::Run> = docs
            .iter()
            .filter_map(|d| model::run_from(d, &self.source_ids))
            .collect();
        let mut violations = std::mem::take(&mut self.violations);
        if runs.len() != docs.len() {
            violations.push(format!(
                "{} run documents could not be read",
                docs.len() - runs.len()
            ));
        }
        let parsed: Vec<model::Job> = jobs.iter().filter_map(model::job_from).collect();
        if parsed.len() != jobs.len() {
            violations.push(format!(
                "{} job documents could not be mapped to a feed item",
                jobs.len() - parsed.len()
            ));
        }
        let served = self.feed.log();
        violations.extend(check::check(&Input {
            feeds: &self.sc.feeds,
            close_after: self.sc.knobs.close_after_missed_runs,
            runs: &runs,
            jobs: &parsed,
            served: &served,
            wipes: &self.wipes,
            source_ids: &self.source_ids,
            leases_lost: self.leases_lost,
        }));
        let mut by_status = std::collections::BTreeMap::new();
        for r in &runs {
            let key = match &r.error {
                Some(code) => format!("{} ({code})", r.status),
                None => r.status.clone(),
            };
            *by_status.entry(key).or_insert(0) += 1;
        }
        let summary = format!(
            "{} runs {:?}, {} jobs, {} requests",
            runs.len(),
            by_status,
            parsed.len(),
            served.len()
        );
        (violations, summary)
    }

    async fn cleanup(&self) {
        self.db().drop().await.ok();
        if let Ok(mut con) = self.redis().await {
            let mut rng = StdRng::seed_from_u64(0);
            self.delete_keys(&format!("{}:*", self.env.prefix), false, &mut rng)
                .await
                .ok();
            if redis::cmd("SELECT")
                .arg(9)
                .query_async::<()>(&mut con)
                .await
                .is_ok()
            {
                let n: i64 = redis::cmd("DBSIZE")
                    .query_async(&mut con)
                    .await
                    .unwrap_or(0);
                if n > 0 {
                    redis::cmd("FLUSHDB").query_async::<()>(&mut con).await.ok();
                    redis::cmd("BGREWRITEAOF")
                        .query_async::<String>(&mut con)
                        .await
                        .ok();
                }
            }
        }
    }
}
