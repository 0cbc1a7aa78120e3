//! The daemon processes of a scenario, started from the built binary and configured through the
//! environment as a deployment would be; each keeps its HTTP port across restarts and appends
//! to its own log file.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scenario::{DAEMON_ROLES, Knobs};
use crate::services::{free_port, wait_port};

/// How long a daemon drains in-flight work after `SIGTERM` before it exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a daemon may take to exit after `SIGTERM`: its grace, and time to stop after it.
pub const EXIT_LIMIT: Duration = Duration::from_secs(SHUTDOWN_GRACE.as_secs() + 20);

pub const TOKEN: &str = "soak-admin-token-0123456789abcdef";

/// The daemon binary: `SOAK_BIN`, else the one cargo built for this test binary.
pub fn binary() -> PathBuf {
    std::env::var_os("SOAK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_job-importer")))
}

pub struct Env {
    pub mongo_uri: String,
    pub database: String,
    pub redis_url: String,
    pub prefix: String,
    pub knobs: Knobs,
    pub dir: PathBuf,
}

pub struct Daemon {
    pub roles: &'static str,
    pub port: Option<u16>,
    child: Option<Child>,
    log: PathBuf,
    config: PathBuf,
}

impl Daemon {
    pub fn new(index: usize, env: &Env) -> Result<Self, String> {
        let roles = DAEMON_ROLES[index];
        let config = env.dir.join("empty.toml");
        std::fs::write(&config, "").map_err(|e| format!("config file: {e}"))?;
        let mut d = Self {
            roles,
            port: roles.contains("http").then(free_port),
            child: None,
            log: env.dir.join(format!("daemon{index}.log")),
            config,
        };
        d.start(env)?;
        Ok(d)
    }

    pub fn base_url(&self) -> Option<String> {
        self.port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    pub fn start(&mut self, env: &Env) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let k = &env.knobs;
        let vars: Vec<(&str, String)> = vec![
            (
                "JOB_IMPORTER_LOG",
                std::env::var("SOAK_DAEMON_LOG").unwrap_or_else(|_| "warn".into()),
            ),
            (
                "JOB_IMPORTER__HTTP__BIND",
                format!("127.0.0.1:{}", self.port.unwrap_or(0)),
            ),
            (
                "JOB_IMPORTER__HTTP__RATE_LIMIT_TRIGGER_PER_MINUTE",
                "0".into(),
            ),
            (
                "JOB_IMPORTER__HTTP__RATE_LIMIT_CREATE_SOURCE_PER_MINUTE",
                "0".into(),
            ),
            ("JOB_IMPORTER__AUTH__ADMIN_TOKEN", TOKEN.into()),
            ("JOB_IMPORTER__MONGODB__URI", env.mongo_uri.clone()),
            ("JOB_IMPORTER__MONGODB__DATABASE", env.database.clone()),
            (
                "JOB_IMPORTER__MONGODB__SERVER_SELECTION_TIMEOUT_MS",
                "1500".into(),
            ),
            ("JOB_IMPORTER__REDIS__URL", env.redis_url.clone()),
            ("JOB_IMPORTER__REDIS__PREFIX", env.prefix.clone()),
            ("JOB_IMPORTER__REDIS__RESPONSE_TIMEOUT_MS", "2000".into()),
            ("JOB_IMPORTER__REDIS__CONNECTION_TIMEOUT_MS", "1000".into()),
            ("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true".into()),
            ("JOB_IMPORTER__FETCH__TOTAL_TIMEOUT_MS", "4000".into()),
            ("JOB_IMPORTER__FETCH__CONNECT_TIMEOUT_MS", "1000".into()),
            (
                "JOB_IMPORTER__PIPELINE__BATCH_SIZE",
                k.batch_size.to_string(),
            ),
            ("JOB_IMPORTER__PIPELINE__WORKER_CONCURRENCY", "2".into()),
            ("JOB_IMPORTER__PIPELINE__HEARTBEAT_SECS", "1".into()),
            ("JOB_IMPORTER__PIPELINE__STEP_TIMEOUT_SECS", "30".into()),
            (
                "JOB_IMPORTER__PIPELINE__SHUTDOWN_GRACE_SECS",
                SHUTDOWN_GRACE.as_secs().to_string(),
            ),
            ("JOB_IMPORTER__PIPELINE__POLL_INTERVAL_MS", "50".into()),
            ("JOB_IMPORTER__PIPELINE__RETRY_BASE_MS", "100".into()),
            ("JOB_IMPORTER__PIPELINE__MAX_FETCH_ATTEMPTS", "3".into()),
            ("JOB_IMPORTER__PIPELINE__MAX_STORE_ATTEMPTS", "5".into()),
            (
                "JOB_IMPORTER__PIPELINE__STALE_AFTER_SECS",
                k.stale_after_secs.to_string(),
            ),
            ("JOB_IMPORTER__PIPELINE__SWEEP_INTERVAL_SECS", "1".into()),
            ("JOB_IMPORTER__PIPELINE__MAX_RESUMES", "2".into()),
            (
                "JOB_IMPORTER__PIPELINE__CLOSE_AFTER_MISSED_RUNS",
                k.close_after_missed_runs.to_string(),
            ),
        ];
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--roles", self.roles, "--config"])
            .arg(&self.config)
            .env_remove("MONGODB_URI")
            .env_remove("REDIS_URL")
            .env_remove("JOB_IMPORTER_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", binary().display()))?;
        let pid = child.id();
        self.child = Some(child);
        // A signal that reaches a process before its own code runs takes the default action,
        // whatever the program does: a daemon counts as started once it catches SIGTERM.
        wait_catching_sigterm(pid, Duration::from_secs(10));
        if let Some(port) = self.port {
            wait_port(port, Duration::from_secs(60))
                .map_err(|e| format!("daemon ({}) did not listen: {e}", self.roles))?;
        }
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            Command::new("kill")
                .args([&format!("-{sig}"), &pid.to_string()])
                .status()
                .ok();
        }
    }

    /// Signals the process and waits for it to exit (SIGKILL after `limit`).
    pub fn stop(&mut self, sig: &str, limit: Duration) -> Option<String> {
        let mut c = self.child.take()?;
        self.signal_pid(c.id(), sig);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(format!("{st}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        c.kill().ok();
        c.wait().ok();
        Some(format!("still running {limit:?} after SIG{sig}: killed"))
    }

    fn signal_pid(&self, pid: u32, sig: &str) {
        Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .ok();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// Waits until process `pid` has a handler for SIGTERM (`SigCgt` in `/proc/{pid}/status`), or
/// is gone, or `limit` passed.
fn wait_catching_sigterm(pid: u32, limit: Duration) {
    const SIGTERM_BIT: u64 = 1 << (15 - 1);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & SIGTERM_BIT != 0);
        if caught || status.contains("State:\tZ") {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
