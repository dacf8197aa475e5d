//! A loopback webhook receiver: plain HTTP (allowed for loopback), records every JSON body with
//! its arrival time, and answers the statuses it is told to (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Clone, Default)]
pub struct Hook {
    pub url: String,
    received: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Hook {
    pub async fn start() -> Hook {
        Self::answering(&[]).await
    }

    /// Answers these statuses to the first requests, then 200.
    pub async fn answering(statuses: &[u16]) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = Hook {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            received: Default::default(),
            statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())),
        };
        let h = hook.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let h = h.clone();
                            async move {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let json = serde_json::from_slice(&body)
                                    .unwrap_or(serde_json::Value::Null);
                                h.received.lock().unwrap().push((Instant::now(), json));
                                let status = h.statuses.lock().unwrap().pop_front().unwrap_or(200);
                                let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
                                *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        hook
    }

    pub fn received(&self) -> Vec<(Instant, serde_json::Value)> {
        self.received.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.received().into_iter().map(|(_, v)| v).collect()
    }

    /// The bodies of one event (`ticket_in_cart`, …), in the order they came.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.bodies()
            .into_iter()
            .filter(|b| b["event"] == event)
            .collect()
    }
}
