//! The good-citizen rules, observed from the server's side and from the log.

use std::time::Duration;

use pretix_race::sim::{Fault, Scenario};

use crate::support::{Race, bare};

fn quiet_with(faults: &[(u32, Fault)]) -> Scenario {
    let mut s = Scenario::named("quiet").unwrap();
    for (n, f) in faults {
        s.faults.insert(*n, f.clone());
    }
    s
}

fn status(code: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        code,
        retry_after: retry_after.map(str::to_string),
    }
}

/// Gap between the marketplace GET number `n` (1-based) and the next one.
fn gap_after(sim: &pretix_race::sim::Sim, n: usize) -> Duration {
    let polls: Vec<_> = sim
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .collect();
    polls[n].at - polls[n - 1].at
}

/// The number of seconds in a "waiting N s" log line.
fn waited_secs(line: &str) -> f64 {
    let after = line.split("waiting ").nth(1).expect("waiting N s");
    after.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_seconds_hold_the_next_request_back() {
    let mut r = Race::new(quiet_with(&[(2, status(429, Some("2")))]))
        .spawn()
        .await;
    r.wait_for("| 429 |", Duration::from_secs(20)).await;
    r.wait_for("| empty", Duration::from_secs(20)).await;
    let (code, _, sim) = r.interrupt().await;
    assert_eq!(code, 130);
    let gap = gap_after(&sim, 2);
    assert!(gap >= Duration::from_secs(2), "{gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_as_an_http_date_is_honoured() {
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    let mut r = Race::new(quiet_with(&[(1, status(503, Some(&when)))]))
        .spawn()
        .await;
    r.wait_for("| 503 |", Duration::from_secs(20)).await;
    r.wait_for("| empty", Duration::from_secs(20)).await;
    let (_, _, sim) = r.interrupt().await;
    // The date has one-second resolution: at least 1 s of the 3 remained when it was read.
    let gap = gap_after(&sim, 1);
    assert!(gap >= Duration::from_secs(1), "{gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_backoffs_without_retry_after() {
    for (code, base) in [(429u16, 60.0), (503, 30.0), (409, 5.0)] {
        let mut r = Race::new(quiet_with(&[(1, status(code, None))]))
            .spawn()
            .await;
        let line = r
            .wait_for(
                &format!("answered {code}: waiting"),
                Duration::from_secs(20),
            )
            .await;
        let secs = waited_secs(&line);
        assert!(
            secs >= base * 0.8 - 0.5 && secs <= base * 1.2 + 0.5,
            "{code}: {line}"
        );
        let (exit, stderr, sim) = r.interrupt().await;
        assert_eq!(exit, 130, "{stderr}");
        assert_eq!(
            sim.seen().len(),
            2,
            "nothing more during the backoff: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_errors_back_off_from_30_seconds() {
    // A port nobody listens on, on a host by name (loopback itself is held 1 s at most).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut r = Race::named("quiet")
        .no_target()
        .args([
            "--url",
            &format!("https://shop.test:{port}"),
            "--resolve",
            "shop.test:127.0.0.1",
            "--interval",
            "2",
            "--event",
            "x",
        ])
        .spawn()
        .await;
    let line = r.wait_for("waiting", Duration::from_secs(30)).await;
    let secs = waited_secs(&line);
    assert!((24.0..=36.0).contains(&secs), "{line}");
    assert!(line.contains("shop.test"), "{line}");
    let (code, stderr, _) = r.interrupt().await;
    assert_eq!(code, 130, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_with_a_summary() {
    let mut r = Race::named("quiet").spawn().await;
    for _ in 0..3 {
        r.wait_for("| empty", Duration::from_secs(20)).await;
    }
    let (code, stderr, _) = r.interrupt().await;
    assert_eq!(code, 130);
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("stopped: "), "{stderr}");
    assert!(
        last.contains("polls, 0 listings seen, 0 cart attempts"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_under_the_floor_is_refused_for_remote_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://tickets.example.com",
            "--event",
            "ev",
            "--interval",
            "1.5",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--interval 1.5 s is below the 2 s floor"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_for_remote_marketplace_and_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &["--url", "http://tickets.example.com", "--event", "ev"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("plain http") && err.contains("https://"),
        "{err}"
    );
    let (code, _, err) = bare(
        &[
            "--url",
            "https://tickets.example.com",
            "--event",
            "ev",
            "--webhook",
            "http://hooks.example.com/x",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--webhook http://hooks.example.com/x uses plain http"),
        "{err}"
    );
}
