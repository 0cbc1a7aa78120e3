//! The composition root: the only place that builds clients, actors and the HTTP server and
//! wires them together, for whichever roles this process plays.

use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix::{Addr, Supervisor};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::actors::feed_fetcher::FeedFetcher;
use crate::actors::history_broker::HistoryBroker;
use crate::actors::import_worker::ImportWorker;
use crate::actors::messages::{CloseSessions, Drained, SessionEnd};
use crate::actors::pipeline::Pipeline;
use crate::actors::scheduler::SchedulerActor;
use crate::actors::supervision::LoopActor;
use crate::config::{Secret, Settings, SourceSettings};
use crate::domain::source::Source;
use crate::http::AppState;
use crate::ingest::fetch::HttpFetcher;
use crate::store::Store;
use crate::store::queue::Queues;
use crate::store::redis::Redis;
use crate::store::run_state::RunLedger;

/// Which parts of the daemon this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub scheduler: bool,
    pub fetcher: bool,
    pub worker: bool,
    pub http: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        scheduler: true,
        fetcher: true,
        worker: true,
        http: true,
    };
}

impl FromStr for Roles {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut r = Roles {
            scheduler: false,
            fetcher: false,
            worker: false,
            http: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "scheduler" => r.scheduler = true,
                "fetcher" => r.fetcher = true,
                "worker" => r.worker = true,
                "http" => r.http = true,
                "all" => r = Roles::ALL,
                other => {
                    return Err(format!(
                        "unknown role `{other}` (scheduler, fetcher, worker, http)"
                    ));
                }
            }
        }
        if r == (Roles {
            scheduler: false,
            fetcher: false,
            worker: false,
            http: false,
        }) {
            return Err("name at least one role".into());
        }
        Ok(r)
    }
}

/// A running daemon inside the current actix System.
pub struct Daemon {
    pub addr: Option<SocketAddr>,
    pub admin_token: String,
    /// The tokens the HTTP server accepts; `reload` them to rotate without a restart.
    pub tokens: Arc<crate::http::auth::Tokens>,
    pub pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    server: Option<actix_web::dev::ServerHandle>,
    /// The supervised actors. Held so their supervisors restart them: an actix supervisor
    /// lets an actor that stops go for good once no address of it is alive.
    workers: Workers,
    broker: Addr<HistoryBroker>,
    _scheduler: Option<Addr<SchedulerActor>>,
    _sweeper: Option<Addr<LoopActor>>,
    _expiry_sweeper: Option<Addr<LoopActor>>,
    _retention: Option<Addr<LoopActor>>,
    _link_checker: Option<Addr<LoopActor>>,
    _pause_follower: Addr<LoopActor>,
    _alerts: Option<Addr<LoopActor>>,
    _changes_out: Option<Addr<LoopActor>>,
}

/// Addresses of the supervised queue actors of one process.
#[derive(Default)]
pub struct Workers {
    pub fetcher: Option<actix::Addr<FeedFetcher>>,
    pub worker: Option<actix::Addr<ImportWorker>>,
}

impl Workers {
    /// Starts the roles' queue actors under supervision.
    pub fn start(
        p: &Arc<Pipeline>,
        shutdown: &CancellationToken,
        fetcher: bool,
        worker: bool,
    ) -> Self {
        let fetcher = fetcher.then(|| {
            let (p, s) = (p.clone(), shutdown.clone());
            Supervisor::start(move |_| FeedFetcher::new(p, s))
        });
        let worker = worker.then(|| {
            let (p, s) = (p.clone(), shutdown.clone());
            Supervisor::start(move |_| ImportWorker::new(p, s))
        });
        Self { fetcher, worker }
    }
}

impl Daemon {
    /// Stops taking work and lets what is in flight finish, for at most
    /// `pipeline.shutdown_grace_secs`: the queue workers stop taking tasks and finish those
    /// they hold (apalis releases what was fetched but not started), the scheduler and sweeper
    /// stop, WebSocket clients are told to reconnect (1001), and the HTTP server ends its
    /// connections. Past the deadline it returns anyway; unfinished tasks are delivered again
    /// to another worker after its missed heartbeats.
    pub async fn stop(&self) {
        let grace = self.pipeline.settings.pipeline.shutdown_grace();
        let deadline = tokio::time::Instant::now() + grace;
        self.shutdown.cancel();
        let sessions = self.broker.send(CloseSessions(SessionEnd::ShuttingDown));
        tokio::time::timeout_at(deadline, sessions).await.ok();
        let http = async {
            if let Some(s) = &self.server {
                s.stop(true).await;
            }
        };
        let fetcher = async {
            if let Some(a) = &self.workers.fetcher {
                a.send(Drained).await.ok();
            }
        };
        let worker = async {
            if let Some(a) = &self.workers.worker {
                a.send(Drained).await.ok();
            }
        };
        let all = futures_util::future::join3(http, fetcher, worker);
        match tokio::time::timeout_at(deadline, all).await {
            Ok(_) => tracing::info!("in-flight work finished"),
            Err(_) => tracing::warn!(
                ?grace,
                "shutdown grace passed with work in flight; it will be delivered again"
            ),
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

fn instance_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into());
    let tag: u16 = rand::random();
    format!("{host}-{}-{tag:04x}", std::process::id())
}

pub fn source_from_settings(s: &SourceSettings, default_cron: &str) -> Source {
    s.to_source(default_cron)
}

/// Runs `op` until it succeeds, waiting with backoff (and saying why in the log) for up to
/// `wait` while MongoDB is down, restarting or not answering yet.
async fn while_mongo_starts<T, Fut>(
    wait: Duration,
    mut op: impl FnMut() -> Fut,
) -> Result<T, crate::store::StoreError>
where
    Fut: std::future::Future<Output = Result<T, crate::store::StoreError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(200);
    loop {
        match op().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, retry_in = ?pause, "MongoDB is not ready yet; waiting");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            r => return r,
        }
    }
}

/// Connects to MongoDB and Redis and builds what every role shares.
pub async fn connect(settings: Arc<Settings>) -> anyhow::Result<Arc<Pipeline>> {
    let m = &settings.mongodb;
    let store = Store::connect(
        m.uri.expose(),
        &m.database,
        Duration::from_millis(m.server_selection_timeout_ms),
    )
    .await
    .context("MongoDB connection settings")?;
    // A MongoDB that is down or restarting is waited for, as Redis is.
    let wait = Duration::from_secs(m.startup_wait_secs);
    while_mongo_starts(wait, || store.ensure_indexes())
        .await
        .context("MongoDB is not reachable (mongodb.uri)")?;
    let redis = Redis::connect(&settings.redis)
        .await
        .context("Redis is not reachable (redis.url)")?;
    let store = store.with_index(redis.clone());
    {
        let store = store.clone();
        tokio::spawn(async move {
            match store.drop_old_index_layout().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(keys = n, "deleted the job index keys of an earlier layout")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete the job index keys of an earlier layout")
                }
            }
        });
    }
    let queues = Queues::new(&redis, &settings.pipeline);
    let fetcher =
        HttpFetcher::new(&settings.fetch).map_err(|e| anyhow::anyhow!("fetch settings: {e}"))?;
    // Read before any role starts: a daemon started while the deployment is paused stays so.
    // MongoDB may have gone down again while Redis was waited for.
    let maintenance = while_mongo_starts(wait, || store.maintenance())
        .await
        .context("reading the maintenance state from MongoDB")?;
    Ok(Arc::new(Pipeline {
        settings,
        store,
        runs: RunLedger::new(redis.clone()),
        redis,
        queues,
        fetcher,
        instance: instance_name(),
        pause: crate::actors::pause::PauseGate::new(maintenance),
    }))
}

/// Starts the daemon's roles in the current actix System.
pub async fn start(settings: Settings, roles: Roles) -> anyhow::Result<Daemon> {
    let mut settings = settings;
    let admin_token = if settings.auth.admin_token.is_empty() {
        let t = uuid::Uuid::new_v4().simple().to_string();
        settings.auth.admin_token = Secret::new(t.clone());
        t
    } else {
        settings.auth.admin_token.expose().to_owned()
    };
    // Bind first: the demo sources point at this daemon's own port.
    let listener = if roles.http {
        Some(
            TcpListener::bind(&settings.http.bind)
                .with_context(|| format!("http.bind {}", settings.http.bind))?,
        )
    } else {
        None
    };
    let addr = listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let tokens = Arc::new(crate::http::auth::Tokens::new(&settings.auth));
    let settings = Arc::new(settings);
    let pipeline = connect(settings.clone()).await?;

    for s in &settings.sources {
        pipeline
            .store
            .upsert_source(&source_from_settings(s, &settings.scheduler.default_cron))
            .await?;
    }
    if let (true, Some(addr)) = (settings.demo.enabled, addr) {
        for demo in crate::http::routes::demo::sources(addr.port()) {
            pipeline.store.upsert_source(&demo).await?;
        }
    }

    let shutdown = CancellationToken::new();
    crate::telemetry::init();
    let wait = Duration::from_secs(settings.mongodb.startup_wait_secs);
    let store = &pipeline.store;
    while_mongo_starts(wait, || async {
        store.ensure_history_indexes().await?;
        store.ensure_run_feed().await?;
        store.ensure_audit_indexes().await?;
        store.prepare_run_counts().await
    })
    .await
    .context("preparing the history's indexes, run feed and counters in MongoDB")?;
    // The broker (and its Redis subscription) gets a thread of its own, so a run's change is
    // fanned out at once rather than behind import work on the shared runtime.
    let (redis, store, instance, gate) = (
        pipeline.redis.clone(),
        pipeline.store.clone(),
        pipeline.instance.clone(),
        pipeline.pause.clone(),
    );
    let broker = Supervisor::start_in_arbiter(&actix::Arbiter::new().handle(), move |_| {
        HistoryBroker::new(redis)
            .with_store(store, instance)
            .with_pause(gate)
    });
    let (p, s) = (pipeline.clone(), shutdown.clone());
    let pause_follower = Supervisor::start(move |_| {
        LoopActor::new("maintenance follower", move || {
            Box::pin(crate::actors::pause::follow_forever(p.clone(), s.clone()))
        })
    });
    let workers = Workers::start(&pipeline, &shutdown, roles.fetcher, roles.worker);
    let (scheduler, sweeper, expiry_sweeper, retention, link_checker) = match roles.scheduler {
        true => {
            let (actor, ready) = SchedulerActor::new(pipeline.clone(), shutdown.clone());
            let addr = Supervisor::start(move |_| actor);
            if tokio::time::timeout(Duration::from_secs(30), ready)
                .await
                .is_err()
            {
                tracing::warn!("the scheduler's first load took over 30 s; starting anyway");
            }
            let (p, s) = (pipeline.clone(), shutdown.clone());
            let sweeper = Supervisor::start(move |_| {
                LoopActor::new("sweeper", move || {
                    Box::pin(crate::actors::sweeper::sweep_forever(p.clone(), s.clone()))
                })
            });
            let (p, s) = (pipeline.clone(), shutdown.clone());
            let expiry = Supervisor::start(move |_| {
                LoopActor::new("expiry sweeper", move || {
                    Box::pin(crate::actors::expiry_sweep::expire_forever(
                        p.clone(),
                        s.clone(),
                    ))
                })
            });
            let (p, s) = (pipeline.clone(), shutdown.clone());
            let retention = Supervisor::start(move |_| {
                LoopActor::new("retention", move || {
                    Box::pin(crate::actors::retention::retain_forever(
                        p.clone(),
                        s.clone(),
                    ))
                })
            });
            let (p, s) = (pipeline.clone(), shutdown.clone());
            let links = Supervisor::start(move |_| {
                LoopActor::new("link checker", move || {
                    Box::pin(crate::actors::link_check::check_forever(
                        p.clone(),
                        s.clone(),
                    ))
                })
            });
            (
                Some(addr),
                Some(sweeper),
                Some(expiry),
                Some(retention),
                Some(links),
            )
        }
        false => (None, None, None, None, None),
    };
    // Alert deliveries go out from every daemon that schedules (each delivery is leased).
    let alerts = roles.scheduler.then(|| {
        let (p, s) = (pipeline.clone(), shutdown.clone());
        Supervisor::start(move |_| {
            LoopActor::new("alerts", move || {
                Box::pin(crate::actors::alerts::deliver_forever(p.clone(), s.clone()))
            })
        })
    });
    // Changes webhooks are pushed from every daemon that schedules (each webhook is leased).
    let changes_out = roles.scheduler.then(|| {
        let (p, s) = (pipeline.clone(), shutdown.clone());
        Supervisor::start(move |_| {
            LoopActor::new("changes out", move || {
                Box::pin(crate::actors::changes_out::push_forever(
                    p.clone(),
                    s.clone(),
                ))
            })
        })
    });

    let mut server_handle = None;
    if let Some(listener) = listener {
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            tokens: tokens.clone(),
            store: Arc::new(pipeline.store.clone()),
            pipeline: pipeline.clone(),
            broker: broker.clone(),
            scheduler: scheduler.clone(),
            next_session: AtomicU64::new(1),
            previews: Default::default(),
        });
        let workers = if settings.http.workers == 0 {
            num_cpus()
        } else {
            settings.http.workers
        };
        let server = http_server(listener, settings.clone(), state, workers)?;
        server_handle = Some(server.handle());
        actix_web::rt::spawn(server);
    }
    Ok(Daemon {
        addr,
        admin_token,
        tokens,
        pipeline,
        shutdown,
        server: server_handle,
        workers,
        broker,
        _scheduler: scheduler,
        _sweeper: sweeper,
        _expiry_sweeper: expiry_sweeper,
        _retention: retention,
        _link_checker: link_checker,
        _pause_follower: pause_follower,
        _alerts: alerts,
        _changes_out: changes_out,
    })
}

/// The HTTP server. Signals are the daemon's (`main.rs`); `stop` ends it.
fn http_server(
    listener: TcpListener,
    settings: Arc<Settings>,
    state: web::Data<AppState>,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let grace = settings.pipeline.shutdown_grace_secs;
    let app = move || {
        let s = settings.clone();
        let cors = !s.http.cors_origins.is_empty();
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::Condition::new(
                cors,
                crate::http::cors(&s),
            ))
            .wrap(tracing_actix_web::TracingLogger::<
                crate::http::redact::RedactedSpan,
            >::new())
            .configure(move |c| crate::http::configure(c, &s))
    };
    Ok(HttpServer::new(app)
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(grace)
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        // Live updates are small writes that must leave at once, not wait for the previous
        // one's acknowledgement (Nagle's algorithm against the client's delayed ACK).
        .tcp_nodelay(true)
        .listen(listener)?
        .run())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Builds the actix System on a multi-threaded tokio runtime: actors live on the main thread's
/// LocalSet, queue workers and blocking parses on the pool.
pub fn system() -> std::io::Result<actix::SystemRunner> {
    Ok(actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("job-importer")
            .build()
            .unwrap_or_else(|e| panic!("cannot build the tokio runtime: {e}"))
    }))
}

/// A daemon on its own thread and System, for tests and embedding; dropped handles stop it.
pub struct SpawnedDaemon {
    pub addr: SocketAddr,
    pub admin_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpawnedDaemon {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            tx.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for SpawnedDaemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn spawn(settings: Settings, roles: Roles) -> anyhow::Result<SpawnedDaemon> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("daemon".into())
        .spawn(move || {
            let sys = match system() {
                Ok(s) => s,
                Err(e) => {
                    ready_tx.send(Err(anyhow::anyhow!(e))).ok();
                    return;
                }
            };
            sys.block_on(async move {
                match start(settings, roles).await {
                    Ok(d) => {
                        ready_tx.send(Ok((d.addr, d.admin_token.clone()))).ok();
                        stop_rx.await.ok();
                        d.stop().await;
                    }
                    Err(e) => {
                        ready_tx.send(Err(e)).ok();
                    }
                }
            });
        })?;
    let (addr, admin_token) = ready_rx.recv().context("the daemon thread died")??;
    Ok(SpawnedDaemon {
        addr: addr.context("spawned daemons need the http role")?,
        admin_token,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
