//! The small local page `--browser-early` opens the browser on while the watch runs: what is
//! watched, the last poll, the next one. Served by us on a random loopback port, plain HTTP/1.1,
//! no resource from anywhere else; the page reloads itself every two seconds. At the hand-over the
//! same tab goes on to the checkout, so no browser start sits between the cart and the person.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, header};
use hyper_util::rt::TokioIo;

use url::Url;

use super::session::Net;
use super::web::escape;

/// The running page; it stops with the process.
pub struct StatusPage {
    pub url: Url,
    task: tokio::task::JoinHandle<()>,
}

impl StatusPage {
    /// Serves the page for a watch of `watching` (its events, as the start-up line names them:
    /// `count` of them) with the run's figures.
    pub async fn start(watching: String, count: usize, net: Arc<Net>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = Url::parse(&format!("http://{}/", listener.local_addr()?))
            .map_err(std::io::Error::other)?;
        // The browser's first load is logged (at -v); its reloads are not.
        let shown = Arc::new(AtomicBool::new(false));
        let watching = Arc::new(watching);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    // Out of file descriptors, say: not a reason to spin.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                let (net, watching, shown) = (net.clone(), watching.clone(), shown.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let mut r = if req.uri().path() == "/" {
                            if !shown.swap(true, Relaxed) {
                                crate::log::debug("browser: the status page is shown");
                            }
                            let body = page(&watching, count, &net.stats.status_line(count));
                            Response::new(Full::new(Bytes::from(body)))
                        } else {
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                            r
                        };
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
        Ok(StatusPage { url, task })
    }
}

impl Drop for StatusPage {
    fn drop(&mut self) {
        self.task.abort();
    }
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
