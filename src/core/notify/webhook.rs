//! The webhook channel: a JSON POST with its own client (no marketplace cookie jar, so the
//! session reaches the webhook host only inside the payload the user asked for), https only
//! (plain http for loopback hosts), and three tries with backoff for transient failures.
//!
//! In a run, every delivery passes the same gate as the session's requests (`with_gate`): the
//! host must be one the user named (`core::gate::Reach`), never a watched shop's site (a
//! strategy's "webhook" to the shop would be a flood of POSTs outside the session's rules), and
//! each try waits for the host's budget in the run's governor. Its answers are not recorded
//! there: the tries' own pauses handle a failing receiver, and a 30 s backoff earned by the
//! user's own receiver must not hold back the cart's alert. Redirects are not followed.

use std::time::Duration;

use reqwest::Client;
use url::Url;

use std::sync::Arc;

use crate::core::failure::Cause;
use crate::core::gate::{Reach, Refusal};
use crate::core::governor::{Kind, Target, jitter};
use crate::core::http::{ClientConfig, SetupError, chain};
use crate::core::session::Net;

/// Tries per delivery.
pub const TRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {url}: use https:// (plain http is only allowed for loopback hosts)")]
    InsecureUrl { url: String },
    #[error("webhook {url}: {detail}")]
    Send {
        url: String,
        detail: String,
        /// Why, from the error's types (`core::failure`).
        cause: Cause,
    },
    #[error("webhook {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("webhook {url}: refusing to reach {host}: {}", if *.rehearsal { "a rehearsal sends nothing off this machine" } else { "the strategy may reach only the targets' hosts, the --webhook host, loopback and hosts given with --allow-host" })]
    NotAllowed {
        url: String,
        host: String,
        rehearsal: bool,
    },
    #[error(
        "webhook {url}: refusing to POST to a watched shop's site: a webhook goes to a receiver of yours, never to the shop"
    )]
    ShopSite { url: String },
}

impl WebhookError {
    fn transient(&self) -> bool {
        match self {
            // A certificate the receiver's name does not vouch for stays so: no second try.
            WebhookError::Send { cause, .. } => *cause != Cause::Tls,
            WebhookError::Status { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            WebhookError::InsecureUrl { .. }
            | WebhookError::NotAllowed { .. }
            | WebhookError::ShopSite { .. } => false,
        }
    }

    /// A short stable name scripts can branch on (`err.kind` in Lua).
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::NotAllowed { .. } => "not_allowed",
            WebhookError::ShopSite { .. } => "refused",
            _ => "webhook",
        }
    }
}

/// https, or http to a loopback host.
pub fn check_url(url: &Url) -> Result<(), WebhookError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if Target::of(url).loopback => Ok(()),
        _ => Err(WebhookError::InsecureUrl {
            url: url.to_string(),
        }),
    }
}

#[derive(Clone)]
pub struct Webhook {
    client: Client,
    /// Pause before the second try; doubled before the third.
    first_retry: Duration,
    /// A run's gate: the governor (for the budget) and what may be reached.
    gate: Option<(Arc<Net>, Reach)>,
}

impl Webhook {
    /// Waits `pause` before a failed delivery's second try, twice that before the third.
    pub fn with_retry_pause(mut self, pause: Duration) -> Self {
        self.first_retry = pause;
        self
    }

    /// Deliveries pass the run's gate: only hosts `reach` allows, never a watched shop's site,
    /// each try within the host's budget in `net`'s governor.
    pub fn with_gate(mut self, net: Arc<Net>, reach: Reach) -> Self {
        self.gate = Some((net, reach));
        self
    }

    /// Whether `url` may receive a delivery at all: https (http for loopback), and, in a run,
    /// a host the user named that is not a watched shop's.
    pub fn check(&self, url: &Url) -> Result<(), WebhookError> {
        check_url(url)?;
        let Some((_, reach)) = &self.gate else {
            return Ok(());
        };
        let target = Target::of(url);
        if let Err(why) = reach.check(&target) {
            return Err(WebhookError::NotAllowed {
                url: url.to_string(),
                host: target.host,
                rehearsal: why == Refusal::Rehearsal,
            });
        }
        if reach.is_target_site(url) {
            return Err(WebhookError::ShopSite {
                url: url.to_string(),
            });
        }
        Ok(())
    }

    pub fn new(cfg: &ClientConfig) -> Result<Self, SetupError> {
        let mut cfg = cfg.clone();
        cfg.timeout = Some(Duration::from_secs(10));
        Ok(Self {
            client: cfg.build()?,
            first_retry: Duration::from_secs(1),
            gate: None,
        })
    }

    async fn once(&self, url: &Url, body: &[u8]) -> Result<u16, WebhookError> {
        // Loopback is outside the budget anyway; a receiver there must not wait out a backoff
        // that a shop on the same machine (another port) earned.
        let target = Target::of(url);
        if let Some((net, _)) = self.gate.as_ref().filter(|_| !target.loopback) {
            net.governor.admit(&target, Kind::Action).await;
        }
        let r = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| WebhookError::Send {
                url: url.to_string(),
                detail: chain(&e),
                cause: crate::core::failure::classify(&e),
            })?;
        let status = r.status().as_u16();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(WebhookError::Status {
                url: url.to_string(),
                status,
            })
        }
    }

    /// POSTs `payload` as JSON, up to [`TRIES`] times while failures are transient. Returns the
    /// status of the 2xx answer and the tries it took.
    pub async fn send(
        &self,
        url: &Url,
        payload: &serde_json::Value,
    ) -> Result<(u16, u32), WebhookError> {
        self.check(url)?;
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let mut pause = self.first_retry;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.once(url, &body).await {
                Ok(status) => return Ok((status, tries)),
                Err(e) if e.transient() && tries < TRIES => {
                    crate::log::debug(format!("{e}; trying again (try {} of {TRIES})", tries + 1));
                    tokio::time::sleep(jitter(pause, 0.2)).await;
                    pause *= 2;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_http_only() {
        let ok = |s: &str| check_url(&Url::parse(s).unwrap()).is_ok();
        assert!(ok("https://hooks.example.com/x"));
        assert!(ok("http://127.0.0.1:9000/x"));
        assert!(ok("http://localhost/x"));
        assert!(!ok("http://hooks.example.com/x"));
        assert!(!ok("ftp://hooks.example.com/x"));
    }

    #[test]
    fn which_failures_are_retried() {
        let s = |status| WebhookError::Status {
            url: "u".into(),
            status,
        };
        assert!(s(500).transient() && s(503).transient() && s(429).transient());
        assert!(!s(400).transient() && !s(404).transient());
        let send = |cause| WebhookError::Send {
            url: "u".into(),
            detail: "d".into(),
            cause,
        };
        assert!(send(Cause::Other).transient() && send(Cause::Refused).transient());
        assert!(
            send(Cause::Dns).transient(),
            "a resolver can be briefly down"
        );
        assert!(!send(Cause::Tls).transient());
    }
}
