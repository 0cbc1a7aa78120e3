//! `alerts channels|history|test`: the configured channels (no secrets), the delivery history,
//! and a test message queued through the same outbox the daemons send from.

use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;
use crate::domain::audit::{Actor, AuditAction, AuditEntry};
use crate::store::mongo::alerts::Delivery;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The channels of `[alerts]`: id, kind and target host (never a URL path or secret).
    Channels,
    /// Deliveries, newest first.
    History {
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Queue a test message to a channel (a running daemon sends it).
    Test {
        channel: String,
        /// Show the test in this source's history.
        #[arg(long)]
        source: Option<String>,
    },
}

fn delivery_line(d: &Delivery) -> String {
    let what = match d.message.event {
        Some(e) => format!("{} {}", e.as_str(), d.message.transition.as_str()),
        None => "test".to_owned(),
    };
    let mut line = format!(
        "{}  {:<7} {:<24} {:<20} to {} ({} attempts)",
        d.created_at, d.status, d.source_id, what, d.channel_id, d.attempts
    );
    if let Some(e) = d.last_error.as_deref().filter(|_| d.status != "sent") {
        line.push_str(&format!(": {e}"));
    }
    line
}

/// Runs an `alerts` command and returns what to print.
pub async fn alerts(
    settings: Settings,
    cmd: AlertsCommand,
    as_json: bool,
) -> anyhow::Result<String> {
    let (source, limit, channel) = match cmd {
        AlertsCommand::Channels => return channels(&settings, as_json),
        AlertsCommand::History { source, limit } => (source, limit, None),
        AlertsCommand::Test { channel, source } => (source, 0, Some(channel)),
    };
    let p = crate::app::connect(Arc::new(settings)).await?;
    let Some(channel) = channel else {
        let list = p
            .store
            .list_deliveries(source.as_deref(), limit.clamp(1, 1000) as i64)
            .await?;
        if as_json {
            return Ok(serde_json::to_string_pretty(&list)?);
        }
        if list.is_empty() {
            return Ok("no alert deliveries".into());
        }
        return Ok(list
            .iter()
            .map(delivery_line)
            .collect::<Vec<_>>()
            .join("\n"));
    };
    if p.settings.alerts.channel(&channel).is_none() {
        anyhow::bail!("no alert channel `{channel}`");
    }
    if let Some(s) = &source
        && p.store.get_source(s).await?.is_none()
    {
        anyhow::bail!("no source `{s}`");
    }
    let id = crate::alerts::queue_test(&p.store, &channel, source.as_deref()).await?;
    let mut e = AuditEntry::new(
        uuid::Uuid::now_v7().to_string(),
        chrono::Utc::now(),
        Actor::Cli,
        AuditAction::AlertTestSent,
    );
    e.source_id = source;
    e.detail = Some(format!("channel {channel}"));
    if let Err(err) = p.store.record_audit(&e).await {
        tracing::warn!(error = %err, "could not record an audit entry");
    }
    if as_json {
        return Ok(serde_json::to_string_pretty(&json!({"deliveryId": id}))?);
    }
    Ok(format!("queued test delivery {id}"))
}

fn channels(settings: &Settings, as_json: bool) -> anyhow::Result<String> {
    let list = &settings.alerts.channels;
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|c| json!({"id": c.id, "kind": c.kind, "target": c.target()}))
            .collect();
        return Ok(serde_json::to_string_pretty(&rows)?);
    }
    if list.is_empty() {
        return Ok("no alert channels configured".into());
    }
    Ok(list
        .iter()
        .map(|c| format!("{}  {}  {}", c.id, c.kind.as_str(), c.target()))
        .collect::<Vec<_>>()
        .join("\n"))
}
