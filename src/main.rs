use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use job_importer::app::{self, Roles};
use job_importer::cli::admin::{RunsCommand, SourcesCommand};
use job_importer::cli::progress::Progress;
use job_importer::config::Settings;
use job_importer::domain::RunStatus;

/// Imports job listings from RSS, Atom and JSON feeds into MongoDB, through a Redis queue.
#[derive(Parser)]
#[command(name = "job-importer", version)]
struct Cli {
    /// Settings file (TOML). Defaults to ./config.toml when it exists.
    #[arg(long, global = true, env = "JOB_IMPORTER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum ChangesCommand {
    /// The webhooks of `[changes_out]` (host, sources, cursor, how far behind, failures).
    Webhooks,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: scheduler, fetcher, worker and HTTP server (or the roles named).
    Serve {
        /// Comma-separated subset of scheduler,fetcher,worker,http.
        #[arg(long, default_value = "all")]
        roles: Roles,
        /// Overrides http.bind.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Import one feed URL now and print the run's import log.
    Import {
        url: String,
        /// Print the final import_logs document as JSON.
        #[arg(long)]
        json: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Show what importing a URL would give (jobs, field coverage, failures, counts against
    /// the stored jobs) without writing anything.
    Preview {
        url: String,
        /// A mapping file (JSON) to read the body with.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// `auto` or a built-in mapping's name (ignored with --mapping).
        #[arg(long)]
        format: Option<String>,
        /// Print the preview as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import runs: `runs list`, `runs show <id>`.
    Runs {
        #[command(subcommand)]
        cmd: RunsCommand,
        /// Print JSON documents as stored.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The index of stored jobs in Redis: `index rebuild`.
    Index {
        #[command(subcommand)]
        cmd: job_importer::cli::admin::IndexCommand,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Pause every daemon for maintenance: no scheduled runs, no new queue tasks, no sweeps.
    Pause {
        /// Shown on the dashboards' banner and in the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Print the maintenance state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a maintenance pause.
    Resume {
        /// Print the maintenance state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The changes feed: `changes webhooks` (how far each webhook got).
    Changes {
        #[command(subcommand)]
        cmd: ChangesCommand,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Alerts: `alerts channels|history|test <channel>`.
    Alerts {
        #[command(subcommand)]
        cmd: job_importer::cli::alerts::AlertsCommand,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Sources: `sources list|show|add|edit|remove|import`.
    Sources {
        #[command(subcommand)]
        cmd: SourcesCommand,
        /// Print JSON documents as stored.
        #[arg(long, global = true)]
        json: bool,
    },
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("JOB_IMPORTER_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,apalis=warn,apalis_core=warn")
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load(path: Option<PathBuf>, overrides: &[(&str, String)]) -> Result<Settings, String> {
    let path = path.or_else(|| Some(PathBuf::from("config.toml")).filter(|p| p.is_file()));
    Settings::load(path.as_deref(), overrides).map_err(|e| e.to_string())
}

#[global_allocator]
static GLOBAL: job_importer::alloc::Allocator = job_importer::alloc::ALLOCATOR;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A daemon stopped the moment it starts exits 0 too: SIGTERM and SIGINT are caught before
    // anything else, and `Stop` takes over once the runtime exists.
    let early = matches!(cli.command, Command::Serve { .. }).then(EarlyStop::catch);
    init_tracing();
    match cli.command {
        Command::Serve { roles, bind } => {
            let overrides: Vec<(&str, String)> =
                bind.into_iter().map(|b| ("http.bind", b)).collect();
            let settings = match load(cli.config.clone(), &overrides) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("job-importer: {e}");
                    return ExitCode::from(2);
                }
            };
            // SIGHUP reads the same file and environment again for the tokens.
            let reload = move || load(cli.config.clone(), &overrides).map(|s| s.auth);
            serve(settings, roles, reload, early.unwrap_or_default())
        }
        Command::Import { url, json, timeout } => {
            let settings = match load(cli.config, &[]) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("job-importer: {e}");
                    return ExitCode::from(2);
                }
            };
            import(settings, &url, json, Duration::from_secs(timeout))
        }
        Command::Preview {
            url,
            mapping,
            format,
            json,
        } => admin(cli.config, |s| {
            job_importer::cli::preview::preview(s, url, mapping.as_deref(), format, json)
        }),
        Command::Runs { cmd, json } => {
            admin(cli.config, |s| job_importer::cli::admin::runs(s, cmd, json))
        }
        Command::Sources { cmd, json } => admin(cli.config, |s| {
            job_importer::cli::admin::sources(s, cmd, json)
        }),
        Command::Changes {
            cmd: ChangesCommand::Webhooks,
            json,
        } => admin(cli.config, |s| {
            job_importer::changes_out::cli_report(s, json)
        }),
        Command::Alerts { cmd, json } => admin(cli.config, |s| {
            job_importer::cli::alerts::alerts(s, cmd, json)
        }),
        Command::Index { cmd, json } => admin(cli.config, |s| {
            job_importer::cli::admin::index(s, cmd, json)
        }),
        Command::Pause { reason, json } => admin(cli.config, |s| {
            job_importer::cli::admin::pause(s, reason, json)
        }),
        Command::Resume { json } => {
            admin(cli.config, |s| job_importer::cli::admin::resume(s, json))
        }
    }
}

/// Runs one admin command on a fresh System and prints its output.
fn admin<F, Fut>(config: Option<PathBuf>, f: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let settings = match load(config, &[]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("job-importer: {e}");
            return ExitCode::from(2);
        }
    };
    let sys = match app::system() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("job-importer: {e}");
            return ExitCode::FAILURE;
        }
    };
    match sys.block_on(f(settings)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("job-importer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    settings: Settings,
    roles: Roles,
    reload: impl Fn() -> Result<job_importer::config::AuthSettings, String> + 'static,
    early: EarlyStop,
) -> ExitCode {
    let sys = match app::system() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("job-importer: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A configured token is never printed: it would end up in `docker logs` and log files.
    let generated = settings.auth.admin_token.is_empty();
    let result = sys.block_on(async move {
        // Listening for SIGTERM before anything else: a daemon stopped while it starts (still
        // waiting for Redis, say) exits 0 too, instead of dying by the signal.
        let mut stop = Stop::listen(early);
        let daemon = tokio::select! {
            daemon = app::start(settings, roles) => daemon?,
            _ = stop.requested() => {
                tracing::info!("stopped while starting");
                return Ok(());
            }
        };
        actix_web::rt::spawn(job_importer::http::auth::reload_on_hangup(
            daemon.tokens.clone(),
            reload,
        ));
        if let Some(addr) = daemon.addr {
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            if generated {
                println!(
                    "Dashboard: http://{host}:{}/#token={}",
                    addr.port(),
                    daemon.admin_token
                );
            } else {
                println!(
                    "Dashboard: http://{host}:{}/ (sign in with the configured admin or read token)",
                    addr.port()
                );
            }
        }
        stop.requested().await;
        tracing::info!("stopping: finishing in-flight work");
        daemon.stop().await;
        Ok::<(), anyhow::Error>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("job-importer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT received before the runtime could listen for them (a flag set by the
/// handler, which then also stands in for the default action of killing the process).
#[derive(Default)]
struct EarlyStop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl EarlyStop {
    fn catch() -> Self {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
                eprintln!("job-importer: cannot catch signal {sig}: {e}");
            }
        }
        Self(flag)
    }

    fn received(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// SIGTERM and SIGINT, listened for from the moment it is made (and any that `EarlyStop`
/// caught before).
struct Stop {
    early: EarlyStop,
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn listen(early: EarlyStop) -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            early,
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn requested(&mut self) {
        if self.early.received() {
            return;
        }
        let term = async {
            match self.term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        let int = async {
            match self.int.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
}

fn import(settings: Settings, url: &str, json: bool, timeout: Duration) -> ExitCode {
    let sys = match app::system() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("job-importer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut bar = Progress::new();
    let result = sys.block_on(job_importer::cli::import(settings, url, timeout, |r| {
        bar.update(r)
    }));
    bar.finish();
    match result {
        Ok(run) => {
            if json {
                match serde_json::to_string_pretty(&run) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("job-importer: {e}"),
                }
            } else {
                println!(
                    "{} {}: fetched {}, new {}, updated {}, unchanged {}, failed {}{}",
                    run.status.as_str(),
                    run.file_name,
                    run.total_fetched,
                    run.new_jobs,
                    run.updated_jobs,
                    run.unchanged_jobs,
                    run.failed_jobs,
                    run.error
                        .as_ref()
                        .map(|e| format!(" ({}: {})", e.code, e.message))
                        .unwrap_or_default()
                );
            }
            if run.status == RunStatus::Failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("job-importer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
