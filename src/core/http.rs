//! How every HTTPS client is built, the marketplace session's and the webhook's alike: who we say
//! we are, which roots we trust (parsed once, at start-up), timeouts and `--resolve` overrides.
//! Both callers depend on this; neither depends on the other. No client follows redirects: the
//! session does, hop by hop, through the gate (`core::gate`). No client keeps cookies either: a
//! marketplace client is one origin's connection, shared by every session (cookie jar) of the run,
//! and each session sends and stores its own cookies (`core::session`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Client;

use super::failure::NotResolved;

/// A client could not be built (a certificate the TLS stack refused, for one).
#[derive(Debug, thiserror::Error)]
#[error("could not set up HTTPS: {0}")]
pub struct SetupError(pub String);

/// A trusted root certificate (DER).
pub type Root = rustls::pki_types::CertificateDer<'static>;

/// The TLS set-up made for these roots (see [`ClientConfig`]'s `tls`).
type TlsCache = Arc<Mutex<Option<(Vec<Root>, rustls::ClientConfig)>>>;

/// Everything the clients need to be built the same way each time.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    pub user_agent: String,
    /// Extra trusted roots (`--ca-cert`, `SSL_CERT_FILE`, the simulator's CA), parsed.
    pub extra_roots: Vec<Root>,
    pub timeout: Option<Duration>,
    /// How long an answer's body may take to arrive after its headers (`--stall-after`, hidden;
    /// default [`crate::core::session::STALL_AFTER`]).
    pub stall_after: Option<Duration>,
    /// `--resolve NAME:ADDR`: these names connect to these addresses (the URL's port is kept).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// The TLS set-up every client built from this configuration (and its clones) shares, made
    /// once for the roots it was made for. Shared on purpose: its session cache lets the fresh
    /// connection a session opens every few hundred requests resume TLS (one round trip, no
    /// certificate check) instead of a full handshake, and the system's roots are read once,
    /// not at every reconnect.
    pub(crate) tls: TlsCache,
}

impl ClientConfig {
    /// A client with this identity and trust, without cookies.
    pub fn build(&self) -> Result<Client, SetupError> {
        let mut b = Client::builder()
            .user_agent(self.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout.unwrap_or(Duration::from_secs(30)))
            // Redirects are followed by the session, one hop at a time under the rules
            // (`core::gate`); a webhook's redirect is not followed at all.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(self.tls()?)
            .dns_resolver(Lookup);
        for (name, addr) in &self.resolve {
            b = b.resolve(name, *addr);
        }
        b.build().map_err(|e| SetupError(chain(&e)))
    }

    /// The shared TLS set-up (see the `tls` field): the platform's roots plus ours, checked by
    /// the platform verifier as reqwest's own set-up does, HTTP/2 offered first.
    fn tls(&self) -> Result<rustls::ClientConfig, SetupError> {
        let mut cached = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((roots, tls)) = cached.as_ref()
            && *roots == self.extra_roots
        {
            return Ok(tls.clone());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = if self.extra_roots.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.extra_roots.iter().cloned(),
                provider.clone(),
            )
        }
        .map_err(|e| SetupError(chain(&e)))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError(chain(&e)))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        *cached = Some((self.extra_roots.clone(), tls.clone()));
        Ok(tls)
    }
}

/// The system's resolver (getaddrinfo on tokio's blocking pool, as reqwest's own), its failure
/// our [`NotResolved`]: a name that did not resolve is known by its type (`core::failure`).
/// `--resolve` overrides are applied on top by reqwest.
struct Lookup;

impl reqwest::dns::Resolve for Lookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.collect::<Vec<_>>());
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(source) => Err(NotResolved { host, source }.into()),
            }
        })
    }
}

/// Parses a PEM bundle into certificates; an empty bundle is an error.
pub fn parse_roots(pem: &[u8]) -> Result<Vec<Root>, String> {
    use rustls::pki_types::pem::PemObject;
    match Root::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err("no certificate in it".into()),
        Err(e) => Err(format!("not a PEM certificate bundle: {e}")),
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
