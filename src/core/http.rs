//! How every HTTPS client is built, the marketplace session's and the webhook's alike: who we say
//! we are, which roots we trust (parsed once, at start-up), timeouts and `--resolve` overrides.
//! Both callers depend on this; neither depends on the other.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use reqwest_cookie_store::CookieStoreMutex;

/// A client could not be built (a certificate the TLS stack refused, for one).
#[derive(Debug, thiserror::Error)]
#[error("could not set up HTTPS: {0}")]
pub struct SetupError(pub String);

/// Everything the clients need to be built the same way each time.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    pub user_agent: String,
    /// Extra trusted roots (`--ca-cert`, `SSL_CERT_FILE`, the simulator's CA), parsed.
    pub extra_roots: Vec<reqwest::Certificate>,
    pub timeout: Option<Duration>,
    /// `--resolve NAME:ADDR`: these names connect to these addresses (the URL's port is kept).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
}

impl ClientConfig {
    /// A client with this identity and trust; with `jar`, it keeps and sends cookies.
    pub fn build(&self, jar: Option<Arc<CookieStoreMutex>>) -> Result<Client, SetupError> {
        let mut b = Client::builder()
            .user_agent(self.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout.unwrap_or(Duration::from_secs(30)))
            .tls_certs_merge(self.extra_roots.clone());
        for (name, addr) in &self.resolve {
            b = b.resolve(name, *addr);
        }
        if let Some(jar) = jar {
            b = b.cookie_provider(jar);
        }
        b.build().map_err(|e| SetupError(chain(&e)))
    }
}

/// Parses a PEM bundle into certificates; an empty bundle is an error.
pub fn parse_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    match reqwest::Certificate::from_pem_bundle(pem) {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err("no certificate in it".into()),
        Err(e) => Err(chain(&e)),
    }
}

/// An error and its sources, joined: reqwest's own Display omits the cause that matters.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
