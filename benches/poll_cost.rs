//! CPU per poll: what a long watch costs a laptop or a small server. Runs the real release binary
//! against the simulator (TLS, HTTP/2, empty marketplace pages, interval 0) twice, with few and
//! with many polls, and divides the difference in the child's user+system CPU time by the
//! difference in polls, so start-up and the TLS handshake drop out.
//!
//! Memory is checked, not only reported: the peak RSS of a run of 10 000 polls must stay within
//! 16 MB and within 1 MB of a run of 200 (flat: nothing grows per poll); otherwise the benchmark
//! fails.

use std::process::{Command, Stdio};
use std::time::Duration;

use pretix_race::sim::{Scenario, Sim};

const FEW: u32 = 200;
const MANY: u32 = FEW + 10_000;
/// Peak RSS allowed for a long watch, and growth allowed from a short one to a long one (kB).
const RSS_LIMIT_KB: i64 = 16 * 1024;
const RSS_GROWTH_KB: i64 = 1024;

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
    // POLL_COST_WRAP="perf record -g -o /tmp/perf.data" profiles the child (see README, Speed).
    let wrap = std::env::var("POLL_COST_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(wrap).arg(env!("CARGO_BIN_EXE_pretix-race"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_pretix-race")),
    };
    // Reaped by `wait4` below (for this one child's figures), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .args(["--url", sim.base_url().as_str(), "--event", sim.event()])
        .args(["--headless", "-q", "--interval", "0", "--ca-cert"])
        .arg(&ca)
        .arg("--log-dir")
        .arg(dir.join("log"))
        .arg("--script")
        .arg(&script)
        .env_remove("SSL_CERT_FILE")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (ok, usage) = wait_with_usage(child.id());
    assert!(ok, "the poll run failed");
    usage
}

/// Waits for the child `pid`; whether it exited 0, its user+system CPU (from `wait4`: this one
/// child's) and its peak RSS in kB. The peak is the process's own high-water mark (`VmHWM`),
/// read every few ms while it runs: `ru_maxrss` would count the copy of this benchmark's memory
/// the child was forked from, before it exec'd.
fn wait_with_usage(pid: u32) -> (bool, (Duration, i64)) {
    let status_file = format!("/proc/{pid}/status");
    let mut peak = 0;
    loop {
        if let Some(kb) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        }) {
            peak = peak.max(kb);
        }
        let mut status = 0;
        // SAFETY: wait4 fills the status and the struct we own, for a child we spawned and
        // have not waited for.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut u) };
        assert!(r >= 0, "wait4 failed");
        if r == pid as libc::pid_t {
            let t = |tv: libc::timeval| {
                Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
            };
            let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            return (ok, (t(u.ru_utime) + t(u.ru_stime), peak));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut per_poll = Vec::new();
    let (mut short_rss, mut long_rss) = (0, 0);
    for _ in 0..3 {
        let (few, short_peak) = run(&rt, FEW, dir.path());
        let (many, long_peak) = run(&rt, MANY, dir.path());
        short_rss = short_rss.max(short_peak);
        long_rss = long_rss.max(long_peak);
        per_poll.push(many.saturating_sub(few) / (MANY - FEW));
    }
    per_poll.sort();
    println!(
        "poll cost (process CPU per empty poll, TLS + HTTP/2 on loopback, interval 0):\n  \
         median {:.1?}  min {:.1?}  ({} x {} polls)\n\
         peak RSS: {:.1} MB after {FEW} polls, {:.1} MB after {MANY} (limit {} MB, growth {} MB)",
        per_poll[1],
        per_poll[0],
        per_poll.len(),
        MANY - FEW,
        short_rss as f64 / 1024.0,
        long_rss as f64 / 1024.0,
        RSS_LIMIT_KB / 1024,
        RSS_GROWTH_KB / 1024,
    );
    if long_rss > RSS_LIMIT_KB || long_rss - short_rss > RSS_GROWTH_KB {
        eprintln!("poll_cost: memory check FAILED");
        std::process::exit(1);
    }
}
