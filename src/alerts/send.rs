//! Sending one alert to one channel: a signed JSON webhook, a Slack-compatible webhook, or an
//! email through the operator's SMTP server. Targets obey the same address policy as feeds:
//! every address a name resolves to must be public unless `alerts.allow_private_networks`.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::settings::{AlertSettings, ChannelKind, ChannelSettings, SmtpTls};
use super::signing::{SIGNATURE_HEADER, signature};
use crate::domain::alert::AlertMessage;
use crate::ingest::ip_policy::check_ip;

/// Why a send failed, as recorded on the delivery (never containing a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// Resolves once and refuses a name with any non-public answer (as the feed fetcher does).
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, 0, allow_private)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, SendError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| SendError(format!("could not resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(SendError(format!("{host} has no addresses")));
    }
    if !allow_private {
        for a in &addrs {
            check_ip(a.ip()).map_err(|e| SendError(format!("{host}: {}", e.message)))?;
        }
    }
    Ok(addrs)
}

/// Sends alerts; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

impl Sender {
    pub fn new(s: &AlertSettings) -> Result<Self, SendError> {
        Self::with_policy(
            "alerts",
            s.allow_private_networks,
            Duration::from_millis(s.timeout_ms),
        )
    }

    /// A sender for `purpose` (named in its user agent) under the address policy
    /// `allow_private` and the time limit `timeout` per request.
    pub fn with_policy(
        purpose: &str,
        allow_private: bool,
        timeout: Duration,
    ) -> Result<Self, SendError> {
        crate::ingest::fetch::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(format!(
                "job-importer/{} ({purpose})",
                env!("CARGO_PKG_VERSION")
            ))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(PolicyResolver { allow_private })
            .no_proxy()
            .build()
            .map_err(|e| SendError(format!("HTTP client setup failed: {e}")))?;
        Ok(Self {
            http,
            allow_private,
            timeout,
        })
    }

    /// Sends `message` (delivery `delivery_id`) to `channel`, within `alerts.timeout_ms` in
    /// all (an SMTP conversation is several exchanges; the delivery's lease must outlast it).
    pub async fn send(
        &self,
        channel: &ChannelSettings,
        delivery_id: &str,
        message: &AlertMessage,
    ) -> Result<(), SendError> {
        tokio::time::timeout(self.timeout, self.send_now(channel, delivery_id, message))
            .await
            .unwrap_or_else(|_| {
                Err(SendError(format!(
                    "channel {}: no answer within {} ms",
                    channel.id,
                    self.timeout.as_millis()
                )))
            })
    }

    async fn send_now(
        &self,
        channel: &ChannelSettings,
        delivery_id: &str,
        message: &AlertMessage,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(message).map_err(|e| SendError(e.to_string()))?;
                let sig = signature(
                    channel.secret.expose(),
                    chrono::Utc::now().timestamp(),
                    &body,
                );
                self.post(channel, delivery_id, body, Some(sig)).await
            }
            ChannelKind::Slack => {
                let body = serde_json::to_vec(&serde_json::json!({"text": message.text()}))
                    .map_err(|e| SendError(e.to_string()))?;
                self.post(channel, delivery_id, body, None).await
            }
            ChannelKind::Email => self.email(channel, message).await,
        }
    }

    async fn post(
        &self,
        channel: &ChannelSettings,
        delivery_id: &str,
        body: Vec<u8>,
        sig: Option<String>,
    ) -> Result<(), SendError> {
        let name = format!("channel {}", channel.id);
        self.post_json(&name, channel.url.expose(), delivery_id, body, sig)
            .await
    }

    /// POSTs a JSON `body` to `url` with the delivery id and, when given, the signature
    /// header; any 2xx answer is success. Errors name `name`, never the URL (it may carry a
    /// token).
    pub async fn post_json(
        &self,
        name: &str,
        url: &str,
        delivery_id: &str,
        body: Vec<u8>,
        sig: Option<String>,
    ) -> Result<(), SendError> {
        let url =
            url::Url::parse(url).map_err(|_| SendError(format!("{name}: the URL is not valid")))?;
        crate::ingest::ip_policy::check_url(&url, self.allow_private)
            .map_err(|e| SendError(e.message))?;
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("X-Job-Importer-Delivery", delivery_id)
            .body(body);
        if let Some(sig) = sig {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        // The URL may carry a token (Slack's does): errors name the channel, not the URL.
        let resp = req.send().await.map_err(|e| {
            SendError(format!(
                "{name}: request failed ({})",
                if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                }
            ))
        })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(SendError(format!(
                "{name}: HTTP {}",
                resp.status().as_u16()
            )))
        }
    }

    async fn email(&self, c: &ChannelSettings, message: &AlertMessage) -> Result<(), SendError> {
        let parse = |a: &str| -> Result<Mailbox, SendError> {
            a.parse()
                .map_err(|_| SendError(format!("channel {}: bad address `{a}`", c.id)))
        };
        let mut b = Message::builder().from(parse(&c.from)?).subject(format!(
            "[job-importer] {} {} {}",
            message.source_id,
            message.event.map_or("test", |e| e.as_str()),
            message.transition.as_str()
        ));
        for to in &c.to {
            b = b.to(parse(to)?);
        }
        let email = b
            .body(message.text())
            .map_err(|e| SendError(format!("channel {}: {e}", c.id)))?;
        let port = c.smtp_port.unwrap_or(match c.smtp_tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        });
        // Connect to the address checked, and speak TLS for the name configured.
        let addr = resolve(&c.smtp_host, port, self.allow_private).await?[0];
        let tls = || {
            let mut b = TlsParameters::builder(c.smtp_host.clone());
            if let Some(path) = &c.smtp_ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    SendError(format!(
                        "channel {}: smtp_ca_file cannot be read: {e}",
                        c.id
                    ))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|_| {
                    SendError(format!(
                        "channel {}: smtp_ca_file holds no certificate",
                        c.id
                    ))
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build()
                .map_err(|e| SendError(format!("channel {}: TLS setup: {e}", c.id)))
        };
        let tls = match c.smtp_tls {
            SmtpTls::Tls => Tls::Wrapper(tls()?),
            SmtpTls::Starttls => Tls::Required(tls()?),
            SmtpTls::None => Tls::None,
        };
        let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .tls(tls)
            .timeout(Some(self.timeout));
        if !c.smtp_username.is_empty() {
            t = t.credentials(lettre::transport::smtp::authentication::Credentials::new(
                c.smtp_username.clone(),
                c.smtp_password.expose().to_owned(),
            ));
        }
        t.build()
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| SendError(format!("channel {}: SMTP: {e}", c.id)))
    }
}
