//! Redis and FerretDB of the soak's own, on free loopback ports and data folders that survive a
//! restart, so a scenario can kill them, start them again, and make Redis load a large
//! append-only file (it answers `LOADING` meanwhile).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Waits until something accepts connections on the port.
pub fn wait_port(port: u16, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "nothing listens on 127.0.0.1:{port} after {limit:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Redis,
    FerretDb,
}

/// One server process on a fixed port and data folder.
pub struct Server {
    kind: Kind,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    pub fn start(kind: Kind, root: &Path) -> Result<Self, String> {
        let name = match kind {
            Kind::Redis => "redis",
            Kind::FerretDb => "ferretdb",
        };
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut s = Self {
            kind,
            port: free_port(),
            dir,
            child: None,
        };
        s.up()?;
        Ok(s)
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
            Kind::FerretDb => format!("mongodb://127.0.0.1:{}/", self.port),
        }
    }

    pub fn up(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("server.log"))
            .map_err(|e| format!("server log: {e}"))?;
        let child = match self.kind {
            Kind::Redis => Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ])
                .args([
                    "--maxmemory-policy",
                    "noeviction",
                    "--enable-debug-command",
                    "local",
                ])
                .arg("--dir")
                .arg(&self.dir)
                .stdout(log)
                .spawn()
                .map_err(|e| format!("redis-server (scripts/install.sh installs it): {e}"))?,
            Kind::FerretDb => {
                let bin = std::env::var("FERRETDB_BIN").unwrap_or_else(|_| {
                    format!(
                        "{}/.cache/job-importer/tools/bin/ferretdb",
                        std::env::var("HOME").unwrap_or_default()
                    )
                });
                Command::new(&bin)
                    .args([
                        "--handler=sqlite",
                        "--telemetry=disable",
                        "--log-level=error",
                    ])
                    .arg("--debug-addr=-")
                    .arg(format!("--sqlite-url=file:{}/", self.dir.display()))
                    .arg(format!("--listen-addr=127.0.0.1:{}", self.port))
                    .arg(format!("--state-dir={}", self.dir.display()))
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("{bin} (scripts/install.sh builds it): {e}"))?
            }
        };
        self.child = Some(child);
        wait_port(self.port, Duration::from_secs(60))
    }

    /// Sends `signal` (`KILL`, `TERM`) and waits for the process to exit.
    pub fn down(&mut self, signal: &str) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .args([&format!("-{signal}"), &c.id().to_string()])
                .status()
                .ok();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.down("KILL");
    }
}
