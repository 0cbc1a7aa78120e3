//! `job-importer import <URL>`: one import through the same fetch → queue → worker path as the
//! daemon, with the fetch and items workers run in this process; prints the final run. The
//! admin commands (`runs`, `sources`) live in `admin`.

pub mod admin;
pub mod alerts;
pub mod preview;
pub mod progress;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::actors::pipeline::Started;
use crate::config::{Settings, validate_source_url};
use crate::domain::source::Source;
use crate::domain::{ImportRun, Trigger};

/// The source an ad-hoc URL imports under: an existing source with that URL, or a new,
/// unscheduled one whose id derives from the URL.
async fn source_for(p: &crate::actors::pipeline::Pipeline, url: &str) -> anyhow::Result<Source> {
    if let Some(s) = p.store.find_source_by_url(url).await? {
        return Ok(s);
    }
    let u = validate_source_url(url).map_err(|m| anyhow::anyhow!("URL {m}"))?;
    let digest = crate::store::mongo::jobs::job_id("cli", url);
    let s = Source::new(
        format!("cli-{}", &digest[..12]),
        format!("{}{}", u.host_str().unwrap_or(""), u.path()),
        url,
        p.settings.scheduler.default_cron.clone(),
    )
    .with_enabled(false);
    p.store.upsert_source(&s).await?;
    Ok(s)
}

/// Runs the import and returns the run as it ended; `on_change` sees every new version.
pub async fn import(
    settings: Settings,
    url: &str,
    timeout: Duration,
    mut on_change: impl FnMut(&ImportRun),
) -> anyhow::Result<ImportRun> {
    let pipeline = crate::app::connect(Arc::new(settings)).await?;
    // Paused for maintenance, this process's own workers take nothing either: the run would
    // wait for the resume, and this command for its time limit. Nothing is started.
    let maintenance = pipeline.pause.state();
    if maintenance.paused {
        anyhow::bail!(
            "the deployment is {}; nothing was imported. Resume it first (job-importer resume), or queue the import with `job-importer sources import <id>` to run after the resume",
            admin::maintenance_line(&maintenance)
        );
    }
    let source = source_for(&pipeline, url).await?;
    let shutdown = CancellationToken::new();
    let _workers = crate::app::Workers::start(&pipeline, &shutdown, true, true);
    let run = match pipeline.start_run(&source, Trigger::Cli).await? {
        Started::Run(run) => run,
        Started::AlreadyRunning(r) => {
            shutdown.cancel();
            anyhow::bail!(
                "source `{}` is already importing (run {})",
                source.id,
                r.unwrap_or_default()
            );
        }
    };
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    let result = loop {
        let current = pipeline.store.get_run(&run.id).await?;
        if let Some(r) = &current
            && r.version > seen
        {
            seen = r.version;
            on_change(r);
        }
        match current {
            Some(r) if r.status.is_final() => break Ok(r),
            _ if Instant::now() > deadline => {
                break Err(anyhow::anyhow!(
                    "run {} did not end within {timeout:?}",
                    run.id
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    result
}
