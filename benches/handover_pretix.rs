//! Hand-over against a real pretix checkout in a visible browser: from the cart secured to
//! pretix's own checkout page loaded in Chromium, as the tool prints it ("Hand-over took …").
//!
//! The `handover` bench measures the simulator's small checkout in a headless browser; this one
//! measures what a fan sees: pretix 2026.8 as it is deployed, behind nginx (Debian's, started
//! here with its own config: `/static/` served from the package's collected `static.dist`, the
//! rest proxied to pretix's `runserver` on loopback, SQLite, one process), the main-shop
//! strategy winning a ticket the moment its quota is raised, and a VISIBLE Chromium on a
//! virtual display (`xvfb-run`, Debian xvfb), once with the browser started at the hand-over
//! and once with `--browser-early`. Each sample is its own event.
//!
//! Without the front end, runserver answers each of the checkout page's 27 scripts and
//! stylesheets with a Django 404 (≈ 150 ms each, one at a time under Python's lock), and the
//! browser's page load takes ≈ 4.5 s of that: a figure of the test set-up, not of a shop.
//!
//! Needs what `.ci/install-deps` installs (pretix in its venv, chromium, xvfb, nginx); no test
//! runs it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

mod common;

/// The tests' real-pretix harness, shared as it is (it runs `BIN`).
#[allow(dead_code)]
#[path = "../tests/support/pretix.rs"]
mod pretix;
const BIN: &str = env!("CARGO_BIN_EXE_pretix-race");

use pretix::{ORG, Pretix};

const SAMPLES: usize = 3;

/// Loads the event page's stylesheets and scripts once, as the shop's earlier visitors have by
/// the time a ticket comes back: a fresh event's first visitor pays pretix's one-time work (its
/// theme stylesheet, the template caches), which no fan racing for a ticket meets.
async fn warm(event_url: &str) {
    let client = reqwest::Client::new();
    let page = client
        .get(event_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let base = reqwest::Url::parse(event_url).unwrap();
    for part in page
        .split(['"', '\''])
        .filter(|p| p.starts_with('/') && (p.contains("/static/") || p.contains("theme.css")))
    {
        let url = base.join(part).unwrap();
        let t = std::time::Instant::now();
        let status = client.get(url.clone()).send().await.map(|r| r.status());
        if std::env::var_os("HANDOVER_VERBOSE").is_some() {
            eprintln!("warm-up: {url} {status:?} in {:?}", t.elapsed());
        }
    }
}

/// A private nginx in front of the pretix on loopback, as pretix's deployment guide has it:
/// static files from disk, everything else proxied. Stopped when dropped.
struct Front {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

/// The pretix package's collected static files (`static.dist`, shipped in the wheel).
fn static_dist() -> PathBuf {
    let venv = std::env::var_os("PRETIX_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/pretix-venv")
        });
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e} (run .ci/install-deps)", lib.display()))
        .filter_map(Result::ok)
        .map(|d| d.path().join("site-packages/pretix/static.dist"))
        .find(|p| p.is_dir())
        .expect("pretix's static.dist in the venv")
}

impl Front {
    fn start(upstream: &str) -> Front {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  include /etc/nginx/mime.types;\n  \
             client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  \
             fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  \
             server {{\n    listen 127.0.0.1:{port};\n    \
             location /static/ {{ alias {}/; }}\n    \
             location / {{ proxy_pass {upstream}; proxy_set_header Host $http_host; }}\n  }}\n}}\n",
            static_dist().display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (/usr/sbin/nginx: .ci/install-deps installs it)");
        let mut front = Front {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return front;
            }
            if let Ok(Some(status)) = front.child.try_wait() {
                panic!("nginx exited ({status})");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nginx did not listen on port {port}");
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sample(front: &Front, early: bool) -> Duration {
    let e = Pretix::get().event("hand", json!({})).await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    let quota = e.quota(0, &[item], &[], json!({})).await;
    e.go_live().await;
    let event_url = format!("{}/{ORG}/{}/", front.base, e.slug);
    warm(&event_url).await;
    let dir = tempfile::tempdir().unwrap();
    let chromium = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut cmd = tokio::process::Command::new("xvfb-run");
    cmd.args(["-a", BIN])
        .args(["--url", &format!("{}/{ORG}", front.base)])
        .args(["--event", &e.slug, "--strategy", "shop"])
        .args(["--item", &item.to_string(), "--interval", "0.2"])
        .args(["--browser", &chromium, "--log-dir"])
        .arg(dir.path().join("log"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if early {
        cmd.arg("--browser-early");
    }
    // HANDOVER_VERBOSE=1: the run's debug log, to see where the time goes.
    let verbose = std::env::var_os("HANDOVER_VERBOSE").is_some();
    if verbose {
        cmd.arg("-v");
    }
    let mut child = cmd
        .spawn()
        .expect("xvfb-run (Debian xvfb; see .ci/install-deps)");
    let mut out = child.stdout.take().unwrap();
    let stdout = tokio::spawn(async move {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s).await;
        s
    });
    // Raise the quota once the watch has seen it sold out (and an early browser is up).
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        let ready = l.contains("1 product (0 available)");
        seen.push(l);
        if ready {
            break;
        }
    }
    e.set_quota(quota, 1).await;
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            if verbose {
                eprintln!("{l}");
            }
        }
    });
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the run ends")
        .unwrap();
    let stdout = stdout.await.unwrap();
    assert!(
        status.success(),
        "{stdout}\n--- stderr\n{}",
        seen.join("\n")
    );
    let a = e.availability(quota).await;
    assert_eq!(a["cart_positions"], 1, "pretix holds the cart: {a}");
    common::took(&stdout)
}

fn main() {
    let rt = common::runtime();
    let front = Front::start(&Pretix::get().base);
    let cold: Vec<_> = (0..SAMPLES)
        .map(|_| rt.block_on(sample(&front, false)))
        .collect();
    let early: Vec<_> = (0..SAMPLES)
        .map(|_| rt.block_on(sample(&front, true)))
        .collect();
    println!(
        "hand-over against a real pretix 2026.8 checkout behind nginx (cart secured -> pretix's checkout loaded in a visible Chromium, xvfb):\n  \
         browser started at the hand-over: median {:.2?} (min {:.2?}, max {:.2?})\n  \
         --browser-early (same tab):       median {:.2?} (min {:.2?}, max {:.2?})  ({SAMPLES} runs each)",
        common::median(cold.clone()),
        cold.iter().min().unwrap(),
        cold.iter().max().unwrap(),
        common::median(early.clone()),
        early.iter().min().unwrap(),
        early.iter().max().unwrap(),
    );
}
