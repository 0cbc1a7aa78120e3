//! Link checks: for sources with `link_check = true`, the open jobs that left the window of
//! the source's last complete run have their posting's URL checked (at most once per
//! `link_check.recheck_after_hours`, until they close or pass `link_check.max_age_days`); a
//! 404 or 410 closes the job (`link_gone`), anything else changes nothing but the record of
//! the check. One daemon of a deployment checks per interval (a Redis lease); hosts are
//! checked side by side, each host's links one after the other (the probe paces them).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use super::pipeline::Pipeline;
use crate::domain::expiry::link_is_gone;
use crate::ingest::fetch::{LinkAnswer, LinkProbe, ProbeLimits};
use crate::store::mongo::links::{DueFilter, LinkDue};
use crate::store::{Store, StoreError};
use crate::telemetry;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub checked: u64,
    pub closed: u64,
}

impl std::ops::Add for Pass {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            checked: self.checked + o.checked,
            closed: self.closed + o.closed,
        }
    }
}

/// The probe the daemon checks links with, from its settings.
pub fn probe(p: &Pipeline) -> Result<LinkProbe, crate::ingest::fetch::FetchError> {
    let s = &p.settings.link_check;
    LinkProbe::new(
        &p.settings.fetch,
        ProbeLimits {
            max_body_bytes: s.max_body_bytes,
            robots_max_bytes: s.robots_max_bytes,
            per_host_interval: Duration::from_millis(s.per_host_interval_ms),
        },
    )
}

/// A job due a check and whether its source may reach private addresses.
type Due = (LinkDue, bool);

/// The links due now, at most `link_check.max_checks_per_pass`, each job once.
async fn due(p: &Pipeline) -> Result<Vec<Due>, StoreError> {
    let s = &p.settings.link_check;
    let now = Utc::now();
    let mut due = Vec::new();
    let mut ids = HashSet::new();
    for source in p.store.list_sources().await? {
        let left = s.max_checks_per_pass.saturating_sub(due.len());
        if left == 0 {
            break;
        }
        let oldest = source.last_window.as_ref().and_then(|w| w.oldest);
        let (true, Some(window_oldest)) = (source.link_check, oldest) else {
            continue;
        };
        let f = DueFilter {
            source_id: &source.id,
            window_oldest,
            not_before: now - chrono::Duration::days(i64::from(s.max_age_days)),
            checked_before: now - chrono::Duration::hours(i64::from(s.recheck_after_hours)),
            limit: i64::try_from(left).unwrap_or(i64::MAX),
        };
        for d in p.store.due_link_checks(&f).await? {
            if ids.insert(d.id.clone()) {
                due.push((d, source.allow_private_networks));
            }
        }
    }
    Ok(due)
}

/// The host (with port) a link is grouped under.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

/// Checks the links that are due, starting no check after `until` (so that a pass ends
/// within its lease).
pub async fn check_links(
    p: &Pipeline,
    store: &Store,
    probe: &LinkProbe,
    until: Instant,
) -> Result<Pass, StoreError> {
    let mut by_host: BTreeMap<String, Vec<Due>> = BTreeMap::new();
    for d in due(p).await? {
        by_host.entry(host_of(&d.0.url)).or_default().push(d);
    }
    futures_util::stream::iter(by_host.into_values())
        .map(|links| check_host(store, probe, links, until))
        .buffer_unordered(p.settings.link_check.max_hosts_at_once)
        .try_fold(Pass::default(), |a, b| async move { Ok(a + b) })
        .await
}

/// One host's links, one after the other.
async fn check_host(
    store: &Store,
    probe: &LinkProbe,
    links: Vec<Due>,
    until: Instant,
) -> Result<Pass, StoreError> {
    let mut pass = Pass::default();
    for (job, allow_private) in links {
        if Instant::now() >= until {
            break;
        }
        let answer = probe.check(&job.url, allow_private).await;
        let now = Utc::now();
        pass.checked += 1;
        let outcome = match answer {
            LinkAnswer::Status(s) if link_is_gone(s) => {
                if store.close_link_gone(&job, s, now).await? {
                    pass.closed += 1;
                    tracing::info!(job = %job.id, url = %job.url, status = s, "link gone; job closed");
                }
                "gone"
            }
            LinkAnswer::Status(s) => {
                store
                    .record_link_check(&job.id, &s.to_string(), now)
                    .await?;
                "alive"
            }
            LinkAnswer::Disallowed => {
                store.record_link_check(&job.id, "disallowed", now).await?;
                "disallowed"
            }
            LinkAnswer::Failed(e) => {
                tracing::debug!(job = %job.id, code = e.code, error = %e, "link check failed");
                store.record_link_check(&job.id, e.code, now).await?;
                "failed"
            }
        };
        metrics::counter!(telemetry::LINK_CHECKS, "outcome" => outcome).increment(1);
    }
    Ok(pass)
}

/// Checks links whenever this daemon takes the lease, every `link_check.interval_secs`.
pub async fn check_forever(p: Arc<Pipeline>, shutdown: tokio_util::sync::CancellationToken) {
    let secs = p.settings.link_check.interval_secs;
    if secs == 0 {
        shutdown.cancelled().await;
        return;
    }
    let probe = match probe(&p) {
        Ok(probe) => probe,
        Err(e) => {
            tracing::error!(error = %e, "link checks are off: no HTTP client");
            shutdown.cancelled().await;
            return;
        }
    };
    let every = Duration::from_secs(secs);
    let ttl = every.saturating_sub(Duration::from_millis(100));
    let key = p.redis.keys.link_check_lease();
    super::leased::every_with_lease(&p, &shutdown, every, key, ttl, "link check", || async {
        // Closing updates the job index, which is bound to the database's epoch.
        let store = match p.store.index_epoch().await {
            Ok(epoch) => p.store.at_epoch(Some(&epoch)),
            Err(e) => {
                tracing::warn!(error = %e, "link check skipped");
                return;
            }
        };
        // No check starts after the lease ends: another daemon may take it then.
        let until = Instant::now() + ttl.saturating_sub(Duration::from_millis(500));
        match check_links(&p, &store, &probe, until).await {
            Ok(Pass { checked: 0, .. }) => {}
            Ok(pass) => {
                tracing::info!(
                    checked = pass.checked,
                    closed = pass.closed,
                    "links checked"
                )
            }
            Err(e) => tracing::warn!(error = %e, "link check failed"),
        }
    })
    .await;
}
