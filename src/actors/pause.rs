//! The pause gate: whether this daemon may start work, as the deployment's maintenance state
//! says. Every part that starts work asks it: the scheduler before a tick starts a run, the
//! queue actors before they run a worker (and they stop it when a pause begins), and the
//! leased loops (sweeper, expiry sweep, link checks, retention) before each pass.
//!
//! The state's record is one MongoDB document (`Store::maintenance`). A change is announced on
//! the Redis channel `{prefix}:maintenance` so that every daemon reads it again at once, and
//! every daemon reads it again every `pipeline.pause_refresh_secs` in any case: a lost
//! announcement or a flushed Redis delays a pause or resume by that much, never for good.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;
use crate::domain::audit::Actor;
use crate::domain::maintenance::Maintenance;
use crate::store::StoreError;

/// The pause state this daemon acts on; cheap to clone, shared by everything in the process.
#[derive(Clone)]
pub struct PauseGate {
    state: Arc<watch::Sender<Maintenance>>,
}

impl PauseGate {
    pub fn new(initial: Maintenance) -> Self {
        Self {
            state: Arc::new(watch::Sender::new(initial)),
        }
    }

    pub fn state(&self) -> Maintenance {
        self.state.borrow().clone()
    }

    pub fn is_paused(&self) -> bool {
        self.state.borrow().paused
    }

    /// Takes the state read from the record; true when it changed.
    pub fn set(&self, m: Maintenance) -> bool {
        self.state.send_if_modified(|cur| {
            if *cur == m {
                return false;
            }
            if cur.paused != m.paused {
                tracing::warn!(
                    paused = m.paused,
                    reason = m.reason.as_deref(),
                    "maintenance: {}",
                    if m.paused { "paused" } else { "resumed" }
                );
            }
            *cur = m;
            true
        })
    }

    /// Every change of the state, from now on.
    pub fn subscribe(&self) -> watch::Receiver<Maintenance> {
        self.state.subscribe()
    }

    /// Waits until the deployment is not paused; false when `stop` came first.
    pub async fn wait_running(&self, stop: &CancellationToken) -> bool {
        let mut rx = self.subscribe();
        tokio::select! {
            r = rx.wait_for(|m| !m.paused) => r.is_ok(),
            _ = stop.cancelled() => false,
        }
    }

    /// Waits until a pause begins.
    pub async fn wait_paused(&self) {
        let mut rx = self.subscribe();
        if rx.wait_for(|m| m.paused).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Where stale detection draws its line (`Maintenance::stale_cutoff`): `None` while
    /// paused.
    pub fn stale_cutoff(&self, now: DateTime<Utc>, stale_after: Duration) -> Option<DateTime<Utc>> {
        let after = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        self.state.borrow().stale_cutoff(now, after)
    }
}

/// What a pause or resume request did.
pub struct Changed {
    pub state: Maintenance,
    /// False when the deployment already was in the state asked for.
    pub changed: bool,
}

/// Pauses the deployment (record, this daemon's gate, then the announcement to the others).
pub async fn pause(p: &Pipeline, by: Actor, reason: Option<String>) -> Result<Changed, StoreError> {
    let done = p.store.pause(by, reason).await?;
    finish(p, done).await
}

/// Resumes the deployment (as `pause`).
pub async fn resume(p: &Pipeline, by: Actor) -> Result<Changed, StoreError> {
    let done = p.store.resume(by).await?;
    finish(p, done).await
}

async fn finish(p: &Pipeline, done: Option<Maintenance>) -> Result<Changed, StoreError> {
    let changed = done.is_some();
    let state = match done {
        Some(m) => m,
        None => p.store.maintenance().await?,
    };
    p.pause.set(state.clone());
    if changed
        && let Err(e) = p
            .redis
            .publish(&p.redis.keys.maintenance_channel(), "changed")
            .await
    {
        // The others read the record again within `pipeline.pause_refresh_secs` anyway.
        tracing::warn!(error = %e, "could not announce the maintenance change");
    }
    Ok(Changed { state, changed })
}

/// Reads the pause state again now and then, and at once when a change is announced, until
/// `shutdown`. Every daemon runs it, whatever its roles.
pub async fn follow_forever(p: Arc<Pipeline>, shutdown: CancellationToken) {
    let every = Duration::from_secs(p.settings.pipeline.pause_refresh_secs.max(1));
    let channel = p.redis.keys.maintenance_channel();
    let mut announced = Box::pin(super::subscription::messages(
        p.redis.clone(),
        channel,
        "maintenance changes",
    ));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(_) = announced.next() => {}
            _ = shutdown.cancelled() => return,
        }
        match p.store.maintenance().await {
            Ok(m) => {
                p.pause.set(m);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the maintenance state; keeping the last one")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_and_closes_with_the_state_it_is_given() {
        actix::System::new().block_on(async {
            let gate = PauseGate::new(Maintenance::paused(Actor::Admin, Utc::now(), None));
            assert!(gate.is_paused());
            let stop = CancellationToken::new();
            let waiting = tokio::spawn({
                let (gate, stop) = (gate.clone(), stop.clone());
                async move { gate.wait_running(&stop).await }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiting.is_finished(), "no work starts while paused");
            assert!(gate.set(gate.state().resumed(Actor::Cli, Utc::now())));
            assert!(waiting.await.unwrap(), "resumed");
            assert!(!gate.set(gate.state()), "the same state again is no change");
            let paused = tokio::spawn({
                let gate = gate.clone();
                async move { gate.wait_paused().await }
            });
            gate.set(Maintenance::paused(Actor::Admin, Utc::now(), None));
            tokio::time::timeout(Duration::from_secs(1), paused)
                .await
                .unwrap()
                .unwrap();
            stop.cancel();
            assert!(!gate.wait_running(&stop).await, "a stop ends the wait");
        });
    }
}
