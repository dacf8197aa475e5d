//! Telling the person: the webhook for now (iMessage and desktop notifications come later).
//!
//! The webhook has a client of its own, without the marketplace's cookie jar, so the session can
//! only reach the webhook host inside the payload the user asked for. Failures are reported to the
//! caller and logged, never fatal.

use std::time::Duration;

use reqwest::Client;
use url::Url;

use super::governor::is_loopback;
use super::session::{ClientConfig, HttpError, chain};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {url}: use https:// (plain http is only allowed for loopback hosts)")]
    InsecureUrl { url: Url },
    #[error("webhook {url}: {detail}")]
    Send { url: Url, detail: String },
    #[error("webhook {url} answered HTTP {status}")]
    Status { url: Url, status: u16 },
    #[error(transparent)]
    Setup(#[from] HttpError),
}

/// https, or http to a loopback host.
pub fn check_url(url: &Url) -> Result<(), WebhookError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url.host_str().unwrap_or("")) => Ok(()),
        _ => Err(WebhookError::InsecureUrl { url: url.clone() }),
    }
}

pub struct Webhook {
    client: Client,
}

impl Webhook {
    pub fn new(cfg: &ClientConfig) -> Result<Self, HttpError> {
        let mut cfg = cfg.clone();
        cfg.timeout = Some(Duration::from_secs(10));
        Ok(Self {
            client: cfg.build(None)?,
        })
    }

    /// POSTs `payload` as JSON; returns the status of a 2xx answer.
    pub async fn send(&self, url: &Url, payload: &serde_json::Value) -> Result<u16, WebhookError> {
        check_url(url)?;
        let r = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(payload).unwrap_or_default())
            .send()
            .await
            .map_err(|e| WebhookError::Send {
                url: url.clone(),
                detail: chain(&e),
            })?;
        let status = r.status().as_u16();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(WebhookError::Status {
                url: url.clone(),
                status,
            })
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
}
