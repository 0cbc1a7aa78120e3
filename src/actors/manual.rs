//! Runs an operator starts by hand, beyond a single trigger: "import every enabled source" and
//! replays of a run. Both go through `Pipeline::start_run_with`, so the running-lease rules are
//! those of any other run.

use serde::Serialize;

use super::pipeline::{Pipeline, RunOptions, Started};
use crate::domain::{ImportRun, Trigger};
use crate::store::StoreError;

/// What "import every enabled source" did, source by source (in the sources' order).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAllReport {
    /// Runs queued now.
    pub started: Vec<StartedRun>,
    /// Sources that already had a run queued or running: nothing was queued for them.
    pub already_running: Vec<AlreadyRunning>,
    /// Sources whose run could not be started (the stores did not answer).
    pub failed: Vec<NotStarted>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartedRun {
    pub source_id: String,
    pub run: Box<ImportRun>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlreadyRunning {
    pub source_id: String,
    /// The run in progress, when known.
    pub run_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotStarted {
    pub source_id: String,
    pub code: String,
    pub message: String,
}

/// Starts one run of every enabled source. A source that is already importing is reported,
/// not queued twice; one whose start fails does not stop the others.
pub async fn start_all_enabled(
    p: &Pipeline,
    trigger: Trigger,
    unconditional: bool,
) -> Result<StartAllReport, StoreError> {
    let mut report = StartAllReport::default();
    for source in p.store.list_sources().await? {
        if !source.enabled {
            continue;
        }
        let options = RunOptions {
            unconditional,
            replay_of: None,
            ..Default::default()
        };
        match p.start_run_with(&source, trigger, options).await {
            Ok(Started::Run(run)) => report.started.push(StartedRun {
                source_id: source.id,
                run,
            }),
            Ok(Started::AlreadyRunning(run_id)) => report.already_running.push(AlreadyRunning {
                source_id: source.id,
                run_id,
            }),
            Err(e) => {
                tracing::warn!(source = %source.id, error = %e, "could not start a run");
                report.failed.push(NotStarted {
                    source_id: source.id,
                    code: e.code().to_owned(),
                    message: "the run could not be queued; try again".to_owned(),
                });
            }
        }
    }
    Ok(report)
}

/// What a replay needs to know of the run it replays.
pub enum Replay {
    Started(Box<ImportRun>),
    /// The source (its id) already has a run in progress (its id, when known).
    AlreadyRunning(String, Option<String>),
    NoSuchRun,
    NoSuchSource(String),
}

/// Runs the source of run `run_id` again now, fetching without validators.
pub async fn replay(p: &Pipeline, run_id: &str, trigger: Trigger) -> Result<Replay, StoreError> {
    let Some(run) = p.store.get_run(run_id).await? else {
        return Ok(Replay::NoSuchRun);
    };
    let Some(source) = p.store.get_source(&run.source_id).await? else {
        return Ok(Replay::NoSuchSource(run.source_id));
    };
    let options = RunOptions {
        unconditional: true,
        replay_of: Some(run.id),
        ..Default::default()
    };
    Ok(match p.start_run_with(&source, trigger, options).await? {
        Started::Run(r) => Replay::Started(r),
        Started::AlreadyRunning(r) => Replay::AlreadyRunning(source.id, r),
    })
}
