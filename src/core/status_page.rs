//! The small local page `--browser-early` opens the browser on while the watch runs: what is
//! watched, the last poll, the next one. Served by us on a random loopback port, plain HTTP/1.1,
//! no resource from anywhere else; the page reloads itself every two seconds. At the hand-over the
//! same tab goes on to the checkout, so no browser start sits between the cart and the person.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, header};
use hyper_util::rt::TokioIo;
use url::Url;

use super::session::Net;

/// The running page; it stops with the process.
pub struct StatusPage {
    pub url: Url,
    /// Pages served so far (the browser's first load and its reloads).
    served: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusPage {
    /// Serves the page for a watch of `watching` (its events, as the start-up line names them:
    /// `count` of them) with the run's figures.
    pub async fn start(watching: String, count: usize, net: Arc<Net>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = Url::parse(&format!("http://{}/", listener.local_addr()?))
            .map_err(std::io::Error::other)?;
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let watching = Arc::new(watching);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (net, watching, counter) = (net.clone(), watching.clone(), counter.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let body = if req.uri().path() == "/" {
                            if counter.fetch_add(1, Relaxed) == 0 {
                                crate::log::debug("browser: the status page is shown");
                            }
                            page(&watching, count, &net.stats.status_line(count))
                        } else {
                            String::new()
                        };
                        let status = if body.is_empty() { 404 } else { 200 };
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        *r.status_mut() = hyper::StatusCode::from_u16(status)
                            .unwrap_or(hyper::StatusCode::NOT_FOUND);
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            header::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                        r.headers_mut().insert(
                            header::CACHE_CONTROL,
                            header::HeaderValue::from_static("no-store"),
                        );
                        async move { Ok::<_, std::convert::Infallible>(r) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(StatusPage { url, served, task })
    }

    pub fn served(&self) -> usize {
        self.served.load(Relaxed)
    }
}

impl Drop for StatusPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: the watch in words, the live line, and what will happen here.
fn page(watching: &str, count: usize, status: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>pretix-race: watching</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em;color:#222}}
code{{background:#f2f2f2;padding:.1em .3em}}</style></head>
<body><h1>pretix-race is watching</h1>
<p>{what}: <code>{watching}</code></p>
<p id="status">{status}</p>
<p>Keep this tab open. When a ticket is in the cart, this tab goes to the checkout with the
session set: finish the checkout here, in time.</p>
</body></html>
"#,
        what = if count == 1 { "Event" } else { "Events" },
        watching = escape(watching),
        status = escape(status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_it_shows() {
        let p = page("https://t.example/<o>/e/", 1, "watching 1 event · 3 polls");
        assert!(p.contains("https://t.example/&lt;o&gt;/e/"), "{p}");
        assert!(p.contains("watching 1 event · 3 polls"));
        assert!(
            !p.contains("http://") && !p.contains("src="),
            "nothing remote"
        );
    }
}
