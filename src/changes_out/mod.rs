//! Changes out: the changes feed (`store::mongo::changes`) pushed to webhooks in signed
//! batches, in order, at least once. Each webhook (`[[changes_out.webhooks]]` in the config
//! file; its URL and secret never leave it) has a cursor in MongoDB (`changes_webhooks`,
//! `store::mongo::changes_out`); one daemon at a time sends a webhook's next batch (a Redis
//! lease), and the cursor moves only after the receiver answered 2xx. A failed batch is sent
//! again, the same changes from the same cursor, after a backoff that doubles up to an hour;
//! it is never skipped, so a receiver sees every change in order, and may see a batch twice
//! (after a lost answer, or a daemon that died between the answer and the cursor's move): it
//! keeps the `seq` of the last change it applied and ignores changes up to it.
//!
//! The body (`Batch`) carries the changes, the cursor it starts after and the one it ends
//! at, and, when retention deleted changes the webhook had not received yet, the gap. It is
//! signed as alerts are (`alerts::signing`: `X-Job-Importer-Signature`).

pub mod deliver;

use serde::{Deserialize, Serialize};

use crate::alerts::settings::{http_url, id_ok, invalid, url_host};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangesOutSettings {
    /// Webhooks may be on loopback, private and link-local addresses (tests, private
    /// deployments). Off: they must be public, like feeds.
    pub allow_private_networks: bool,
    /// How often each daemon with the scheduler role looks for changes to send.
    pub poll_interval_ms: u64,
    /// Most changes per batch.
    pub batch_size: u32,
    /// Time limit of one request.
    pub timeout_ms: u64,
    /// Delay before a failed batch is sent again; doubles per failure, capped at an hour.
    pub retry_base_ms: u64,
    pub webhooks: Vec<WebhookSettings>,
}

impl Default for ChangesOutSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            poll_interval_ms: 1000,
            batch_size: 100,
            timeout_ms: 10_000,
            retry_base_ms: 5000,
            webhooks: Vec::new(),
        }
    }
}

/// Where a new webhook's cursor starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// With the oldest change kept (the receiver gets the history retention kept).
    #[default]
    Beginning,
    /// After the newest change when the webhook is first seen.
    Now,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Letters, digits, `-`, `_`: names the webhook's cursor; a new id starts a new cursor.
    pub id: String,
    pub url: Secret,
    /// The HMAC-SHA256 key of the signature header, at least 16 characters.
    pub secret: Secret,
    /// Sources whose changes go to this webhook; empty: every source. Closings by the expiry
    /// sweep belong to no source and go to every webhook.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub start: Start,
}

impl WebhookSettings {
    /// What the API shows of the target: the host (the path and query may hold a token).
    pub fn target(&self) -> String {
        url_host(self.url.expose())
    }

    /// Whether a change of `source_id` goes to this webhook.
    pub fn wants(&self, source_id: Option<&str>) -> bool {
        match source_id {
            None => true,
            Some(s) => self.sources.is_empty() || self.sources.iter().any(|w| w == s),
        }
    }
}

/// The webhooks as the API and the CLI show them: each one's host, sources and start, its
/// state (`None` until a daemon first looked at it) and how many changes it is behind.
pub async fn report(
    store: &crate::store::Store,
    settings: &ChangesOutSettings,
) -> Result<serde_json::Value, crate::store::StoreError> {
    let ids: Vec<&str> = settings.webhooks.iter().map(|h| h.id.as_str()).collect();
    let states = store.webhook_states(&ids).await?;
    let head = store.changes_head().await?;
    let described: Vec<serde_json::Value> = settings
        .webhooks
        .iter()
        .map(|h| {
            let s = states.iter().find(|(id, _)| id == &h.id).map(|(_, s)| s);
            serde_json::json!({
                "id": h.id,
                "target": h.target(),
                "sources": h.sources,
                "start": h.start,
                "state": s,
                "behind": s.map(|s| (head - s.cursor).max(0)),
            })
        })
        .collect();
    Ok(serde_json::json!({"webhooks": described, "head": head}))
}

/// `job-importer changes webhooks`: the report above, one line per webhook.
pub async fn cli_report(
    settings: crate::config::Settings,
    as_json: bool,
) -> anyhow::Result<String> {
    let p = crate::app::connect(std::sync::Arc::new(settings)).await?;
    let report = report(&p.store, &p.settings.changes_out).await?;
    if as_json {
        return Ok(serde_json::to_string_pretty(&report)?);
    }
    let hooks = report["webhooks"].as_array().cloned().unwrap_or_default();
    if hooks.is_empty() {
        return Ok("no changes webhooks configured".into());
    }
    let head = report["head"].as_i64().unwrap_or(0);
    Ok(hooks
        .iter()
        .map(|h| {
            let sources = match h["sources"].as_array() {
                Some(s) if !s.is_empty() => s
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                _ => "all".to_owned(),
            };
            let st = &h["state"];
            let state = if st.is_null() {
                "not looked at yet".to_owned()
            } else if st["attempts"].as_i64().unwrap_or(0) > 0 {
                format!(
                    "{} failed attempts: {} (next {})",
                    st["attempts"],
                    st["lastError"].as_str().unwrap_or("?"),
                    st["nextAttemptAt"].as_str().unwrap_or("?")
                )
            } else {
                format!("{} changes delivered", st["deliveredChanges"])
            };
            format!(
                "{}  {}  sources {}  cursor {} of {head}  behind {}  {state}",
                h["id"].as_str().unwrap_or(""),
                h["target"].as_str().unwrap_or(""),
                sources,
                st["cursor"]
                    .as_i64()
                    .map_or("-".to_owned(), |c| c.to_string()),
                h["behind"]
                    .as_i64()
                    .map_or("-".to_owned(), |b| b.to_string()),
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

impl ChangesOutSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = |s: &str| format!("changes_out.{s}");
        if !(10..=600_000).contains(&self.poll_interval_ms) {
            return Err(invalid(
                k("poll_interval_ms"),
                "must be between 10 and 600000",
            ));
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err(invalid(k("batch_size"), "must be between 1 and 1000"));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(invalid(k("timeout_ms"), "must be between 100 and 120000"));
        }
        if !(10..=3_600_000).contains(&self.retry_base_ms) {
            return Err(invalid(
                k("retry_base_ms"),
                "must be between 10 and 3600000",
            ));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let key = |f: &str| format!("changes_out.webhooks[{i}].{f}");
            if !id_ok(&w.id) {
                return Err(invalid(key("id"), "letters, digits, `-` and `_`, 1 to 100"));
            }
            if self.webhooks[..i].iter().any(|o| o.id == w.id) {
                return Err(invalid(key("id"), "another webhook has this id"));
            }
            if !http_url(w.url.expose()) {
                return Err(invalid(key("url"), "an http or https URL is required"));
            }
            if w.secret.expose().len() < 16 {
                return Err(invalid(key("secret"), "at least 16 characters"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: &str, secret: &str) -> WebhookSettings {
        WebhookSettings {
            id: id.into(),
            url: Secret::new("https://board.example/hooks/jobs?token=x"),
            secret: Secret::new(secret),
            sources: Vec::new(),
            start: Start::Beginning,
        }
    }

    #[test]
    fn webhooks_are_checked_and_show_only_their_host() {
        let mut s = ChangesOutSettings::default();
        s.webhooks.push(hook("board", "0123456789abcdef"));
        s.validate().unwrap();
        assert_eq!(s.webhooks[0].target(), "board.example");
        s.webhooks.push(hook("board", "0123456789abcdef"));
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("webhooks[1].id")
        );
        s.webhooks[1] = hook("other", "short");
        assert!(s.validate().unwrap_err().to_string().contains("secret"));
        s.webhooks[1] = hook("bad id", "0123456789abcdef");
        assert!(s.validate().is_err());
    }

    #[test]
    fn a_webhook_of_some_sources_also_gets_the_sweeps_closings() {
        let mut h = hook("board", "0123456789abcdef");
        assert!(h.wants(Some("a")) && h.wants(None));
        h.sources = vec!["a".into()];
        assert!(h.wants(Some("a")) && !h.wants(Some("b")) && h.wants(None));
    }
}
