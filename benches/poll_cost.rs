//! CPU per poll: what a long watch costs a laptop or a small server. Runs the real release binary
//! against the simulator (TLS, HTTP/2, empty marketplace pages, interval 0) twice, with few and
//! with many polls, and divides the difference in the child's user+system CPU time by the
//! difference in polls, so start-up and the TLS handshake drop out. Also reports the peak RSS.

use std::process::{Command, Stdio};
use std::time::Duration;

use pretix_race::sim::{Scenario, Sim};

const FEW: u32 = 200;
const MANY: u32 = 3200;

/// (CPU time, peak RSS in kB) of one run of `polls` empty polls.
fn run(rt: &tokio::runtime::Runtime, polls: u32, dir: &std::path::Path) -> (Duration, i64) {
    let mut s = Scenario::named("quiet").unwrap();
    s.listings_from_poll = u32::MAX;
    let sim = rt.block_on(Sim::start(s)).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let script = dir.join("polls.lua");
    std::fs::write(
        &script,
        format!(
            "local race = require('race')\nlocal s = race.session\nlocal url = race.options.event_url .. 'secondhand/'\nfor _ = 1, {polls} do assert(s:poll(url)) end\nreturn true\n"
        ),
    )
    .unwrap();
    let before = children_usage();
    let status = Command::new(env!("CARGO_BIN_EXE_pretix-race"))
        .args(["--url", sim.base_url().as_str(), "--event", sim.event()])
        .args(["--headless", "-q", "--interval", "0", "--ca-cert"])
        .arg(&ca)
        .arg("--log-dir")
        .arg(dir.join("log"))
        .arg("--script")
        .arg(&script)
        .env_remove("SSL_CERT_FILE")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let after = children_usage();
    (after.0 - before.0, after.1)
}

/// (user+system CPU of waited-for children, their peak RSS in kB).
fn children_usage() -> (Duration, i64) {
    // SAFETY: getrusage fills the struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    (t(u.ru_utime) + t(u.ru_stime), u.ru_maxrss)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut per_poll = Vec::new();
    let mut rss = 0;
    for _ in 0..3 {
        let (few, _) = run(&rt, FEW, dir.path());
        let (many, peak) = run(&rt, MANY, dir.path());
        rss = rss.max(peak);
        per_poll.push(many.saturating_sub(few) / (MANY - FEW));
    }
    per_poll.sort();
    println!(
        "poll cost (process CPU per empty poll, TLS + HTTP/2 on loopback, interval 0):\n  \
         median {:.1?}  min {:.1?}  ({} x {} polls)  peak RSS {} MB",
        per_poll[1],
        per_poll[0],
        per_poll.len(),
        MANY - FEW,
        rss / 1024
    );
}
