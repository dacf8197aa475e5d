//! Why a request failed on the way, read from the error's types, never from its message text:
//! reqwest's own kinds (`is_timeout`, `is_connect`) and the errors it carries as sources (the
//! socket's `io::ErrorKind`, rustls's handshake errors, our resolver's [`NotResolved`]). Message
//! text changes with a dependency's version or the platform's wording; these types do not.
//!
//! What each cause decides lives with its user: the session retries a connect failure once but
//! not a TLS one, and scripts read the cause as `err.kind` / `err.dns` (`core::session`).

use std::error::Error;
use std::io;

/// What became of a request that got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The host name did not resolve (a typo, or no network).
    Dns,
    /// Nothing listens there: the connection was refused.
    Refused,
    /// The TLS handshake failed (the server's certificate was not accepted, or the other end
    /// does not speak TLS): retrying will not help.
    Tls,
    /// The connection could not be made for another reason (unreachable network, connect
    /// timeout).
    Connect,
    /// The client's time limit ran out after the connection was made.
    Timeout,
    /// The connection broke while the request or its answer was under way.
    Other,
}

/// A host name the resolver (`core::http`) could not turn into addresses. Our own type, so that a
/// failed lookup is recognised by what it is wherever reqwest and hyper wrap it. It reads as the
/// system's own message (the request's error already names the URL).
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct NotResolved {
    pub host: String,
    #[source]
    pub source: io::Error,
}

/// The cause of a failed request (see [`Cause`]), from the error and its sources.
pub fn classify(e: &reqwest::Error) -> Cause {
    let mut tls = false;
    let mut refused = false;
    let mut dns = false;
    walk(e, &mut |err| {
        if err.is::<NotResolved>() {
            dns = true;
        } else if err.is::<rustls::Error>() {
            tls = true;
        } else if let Some(io) = err.downcast_ref::<io::Error>() {
            refused |= io.kind() == io::ErrorKind::ConnectionRefused;
        }
    });
    if dns {
        Cause::Dns
    } else if tls {
        Cause::Tls
    } else if refused {
        Cause::Refused
    } else if e.is_connect() {
        Cause::Connect
    } else if e.is_timeout() {
        Cause::Timeout
    } else {
        Cause::Other
    }
}

/// Calls `f` on `e` and every error below it. `io::Error`'s own `source()` skips the error it
/// wraps (rustls's handshake error travels inside one), so that one is visited too.
fn walk<'a>(e: &'a (dyn Error + 'static), f: &mut impl FnMut(&'a (dyn Error + 'static))) {
    let mut cur = Some(e);
    while let Some(err) = cur {
        f(err);
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            walk(inner, f);
        }
        cur = err.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::ClientConfig;

    async fn get(url: &str) -> reqwest::Error {
        let client = ClientConfig {
            user_agent: "test".into(),
            ..Default::default()
        }
        .build()
        .unwrap();
        client.get(url).send().await.unwrap_err()
    }

    #[tokio::test]
    async fn a_refused_loopback_port() {
        // A port just freed: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = get(&format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(classify(&e), Cause::Refused, "{e:?}");
    }

    #[tokio::test]
    async fn an_unresolvable_name() {
        // `.invalid` never resolves (RFC 2606), with or without a network.
        let e = get("https://no-such-host.invalid/").await;
        assert_eq!(classify(&e), Cause::Dns, "{e:?}");
    }

    #[tokio::test]
    async fn a_tls_handshake_with_a_plain_tcp_listener() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            // A plain-HTTP server's answer to the ClientHello.
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        let e = get(&format!("https://127.0.0.1:{port}/")).await;
        assert_eq!(classify(&e), Cause::Tls, "{e:?}");
    }

    #[tokio::test]
    async fn a_certificate_nobody_vouched_for() {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        // A self-signed certificate for the very name asked: only its issuer is unknown.
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(made.cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let e = get(&format!("https://127.0.0.1:{port}/")).await;
        assert_eq!(classify(&e), Cause::Tls, "{e:?}");
    }
}
