//! `[alerts]`: the channels alerts go to, the rules that say which source's events go where,
//! and the thresholds of each event. Set in the config file only (secrets stay out of the API
//! and out of the database).

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Secret};
use crate::domain::alert::AlertEvent;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Channels may reach loopback, private and link-local addresses (tests, private
    /// deployments). Off: webhooks and SMTP servers must be public, like feeds.
    pub allow_private_networks: bool,
    /// How often each daemon looks for deliveries that are due.
    pub poll_interval_ms: u64,
    /// Attempts of one delivery before it is given up (`failed`).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles per attempt (with jitter), capped at an hour.
    pub retry_base_ms: u64,
    /// How long a daemon holds a delivery it is sending; after that another may send it.
    pub delivery_lease_secs: u64,
    /// Time limit of one webhook request or SMTP conversation.
    pub timeout_ms: u64,
    /// How often one daemon (by lease) checks every source for staleness.
    pub stale_check_interval_secs: u64,
    /// A source with no new job for this many days is stale. 0: never.
    pub stale_after_days: u32,
    /// A run whose failed items exceed this percentage of what it read opens `item_failures`.
    pub item_failure_percent: u32,
    /// A run that wrote jobs of which more than this percentage lack a company, after one
    /// that did not, opens `coverage_drop`.
    pub coverage_missing_percent: u32,
    pub channels: Vec<ChannelSettings>,
    pub rules: Vec<RuleSettings>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            poll_interval_ms: 1000,
            max_attempts: 6,
            retry_base_ms: 5000,
            delivery_lease_secs: 60,
            timeout_ms: 10_000,
            stale_check_interval_secs: 3600,
            stale_after_days: 3,
            item_failure_percent: 20,
            coverage_missing_percent: 50,
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// JSON body, signed (`X-Job-Importer-Signature`).
    Webhook,
    /// Slack incoming-webhook shape (`{"text": ...}`).
    Slack,
    Email,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain, then STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// No encryption (a relay on the same host or a test server).
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Letters, digits, `-`, `_`; rules name channels by it.
    pub id: String,
    pub kind: ChannelKind,
    /// Webhook and Slack: where to POST.
    #[serde(default)]
    pub url: Secret,
    /// Webhook: the HMAC-SHA256 key of the signature header (required for `webhook`).
    #[serde(default)]
    pub secret: Secret,
    /// Email: the operator's SMTP server.
    #[serde(default)]
    pub smtp_host: String,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    /// A PEM file of root certificates the SMTP server's certificate may chain to besides
    /// the built-in ones (a relay with an internal CA).
    #[serde(default)]
    pub smtp_ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub smtp_username: String,
    #[serde(default)]
    pub smtp_password: Secret,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Sources the rule covers; empty: every source.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Events the rule sends; empty: every event.
    #[serde(default)]
    pub events: Vec<AlertEvent>,
    pub channels: Vec<String>,
}

pub(crate) fn invalid(key: String, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

/// The host of a webhook's URL: what the API and the CLI show of it (its path and query may
/// hold a token).
pub(crate) fn url_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether `url` is an http or https URL (a webhook's).
pub(crate) fn http_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Email => "email",
        }
    }
}

impl ChannelSettings {
    /// What the API and the CLI show of the target: a webhook's host (its path and query may
    /// hold a token), an email channel's SMTP server and recipients. Never a secret.
    pub fn target(&self) -> String {
        match self.kind {
            ChannelKind::Webhook | ChannelKind::Slack => url_host(self.url.expose()),
            ChannelKind::Email => format!("{} -> {}", self.smtp_host, self.to.join(", ")),
        }
    }
}

impl AlertSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = |s: &str| format!("alerts.{s}");
        if !(10..=600_000).contains(&self.poll_interval_ms) {
            return Err(invalid(
                k("poll_interval_ms"),
                "must be between 10 and 600000",
            ));
        }
        if !(1..=50).contains(&self.max_attempts) {
            return Err(invalid(k("max_attempts"), "must be between 1 and 50"));
        }
        if !(10..=3_600_000).contains(&self.retry_base_ms) {
            return Err(invalid(
                k("retry_base_ms"),
                "must be between 10 and 3600000",
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(invalid(k("timeout_ms"), "must be between 100 and 120000"));
        }
        if self.delivery_lease_secs * 1000 <= self.timeout_ms * 2 {
            return Err(invalid(
                k("delivery_lease_secs"),
                "must exceed twice alerts.timeout_ms, or a slow send could be sent twice",
            ));
        }
        if !(1..=30 * 24 * 3600).contains(&self.stale_check_interval_secs) {
            return Err(invalid(
                k("stale_check_interval_secs"),
                "must be between 1 and 2592000",
            ));
        }
        if self.item_failure_percent > 100 || self.coverage_missing_percent > 100 {
            return Err(invalid(
                k("item_failure_percent"),
                "percentages are 0 to 100",
            ));
        }
        for (i, c) in self.channels.iter().enumerate() {
            let key = |f: &str| format!("alerts.channels[{i}].{f}");
            if !id_ok(&c.id) {
                return Err(invalid(key("id"), "letters, digits, `-` and `_`, 1 to 100"));
            }
            if self.channels[..i].iter().any(|o| o.id == c.id) {
                return Err(invalid(key("id"), "another channel has this id"));
            }
            match c.kind {
                ChannelKind::Webhook | ChannelKind::Slack => {
                    if !http_url(c.url.expose()) {
                        return Err(invalid(key("url"), "an http or https URL is required"));
                    }
                    if c.kind == ChannelKind::Webhook && c.secret.expose().len() < 16 {
                        return Err(invalid(key("secret"), "at least 16 characters"));
                    }
                }
                ChannelKind::Email => {
                    if c.smtp_host.is_empty() {
                        return Err(invalid(key("smtp_host"), "required for email"));
                    }
                    if let Some(path) = &c.smtp_ca_file {
                        let pem = std::fs::read(path).map_err(|e| {
                            invalid(key("smtp_ca_file"), &format!("cannot be read: {e}"))
                        })?;
                        lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(
                            |_| invalid(key("smtp_ca_file"), "holds no PEM certificate"),
                        )?;
                    }
                    if !c.from.contains('@')
                        || c.to.is_empty()
                        || c.to.iter().any(|t| !t.contains('@'))
                    {
                        return Err(invalid(
                            key("to"),
                            "`from` and at least one `to` address are required",
                        ));
                    }
                }
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if r.channels.is_empty() {
                return Err(invalid(
                    format!("alerts.rules[{i}].channels"),
                    "name at least one channel",
                ));
            }
            for c in &r.channels {
                if !self.channels.iter().any(|ch| &ch.id == c) {
                    return Err(invalid(
                        format!("alerts.rules[{i}].channels"),
                        "names a channel that is not in alerts.channels",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The channels that `event` of `source_id` goes to (each once).
    pub fn channels_for(&self, source_id: &str, event: AlertEvent) -> Vec<&ChannelSettings> {
        let mut out: Vec<&ChannelSettings> = Vec::new();
        for r in &self.rules {
            let source_ok = r.sources.is_empty() || r.sources.iter().any(|s| s == source_id);
            let event_ok = r.events.is_empty() || r.events.contains(&event);
            if !(source_ok && event_ok) {
                continue;
            }
            for id in &r.channels {
                if let Some(c) = self.channels.iter().find(|c| &c.id == id)
                    && !out.iter().any(|o| o.id == c.id)
                {
                    out.push(c);
                }
            }
        }
        out
    }

    pub fn channel(&self, id: &str) -> Option<&ChannelSettings> {
        self.channels.iter().find(|c| c.id == id)
    }
}

pub(crate) fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
