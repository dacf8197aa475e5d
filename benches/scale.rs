//! Scale: many events of one shop in one process. Runs the real release binary with the built-in
//! strategy against the simulator (TLS, HTTP/2, empty marketplaces, loopback: no floor), with
//! `events` events at `interval`, and reports per row, over a window after every event has
//! started: the process CPU per poll, its memory (RSS, and its anonymous part: the program's own),
//! the connections the simulator accepted, and how regularly each event was polled (the worst
//! gap between two polls of one event, as a multiple of the interval, and how many events' mean
//! gap strayed more than 25 % from the interval; the strategy's own jitter is ±20 % per gap).
//!
//! What it is for: one connection per shop, not per session (1000 events once held 1000 TLS
//! connections and 162 MB), CPU per poll flat in the number of events, and fair scheduling.
//!
//! `SCALE_BIN=/path/to/pretix-race` measures another build (to compare builds side by side).
//! `SCALE_ROWS="1x0,100x2,1000x2"` (events x interval in s) and `SCALE_SECS=20` (the window)
//! change what runs. CPU is read from /proc (clock ticks: 10 ms), so a row needs a few hundred
//! polls in its window to say anything.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pretix_race::sim::{Scenario, Sim};

mod common;

struct Row {
    events: u32,
    interval: f64,
}

struct Figures {
    polls: usize,
    cpu_per_poll: Duration,
    rss_kb: i64,
    anon_kb: i64,
    connections: usize,
    worst_gap: Option<f64>,
    off: Option<usize>,
}

/// user + system CPU of `pid` so far, from /proc (clock ticks).
/// The binary measured: `SCALE_BIN`, else this build's.
fn bin() -> String {
    std::env::var("SCALE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pretix-race").to_string())
}

fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros((ticks(11) + ticks(12)) * 1_000_000 / hz)
}

/// (VmRSS, RssAnon) of `pid`, in kB.
fn memory(pid: u32) -> (i64, i64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    (kb("VmRSS:"), kb("RssAnon:"))
}

fn market_polls(sim: &Sim) -> Vec<(Instant, String)> {
    sim.seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/secondhand/"))
        .map(|s| (s.at, s.path))
        .collect()
}

fn run(rt: &tokio::runtime::Runtime, row: &Row, window: Duration) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::named("quiet").unwrap();
    scenario.events = row.events;
    let sim = rt.block_on(Sim::start(scenario)).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["--url", sim.base_url().as_str()]);
    for e in sim.events() {
        cmd.arg("--event").arg(e);
    }
    let mut child = cmd
        .arg("--ca-cert")
        .arg(&ca)
        .arg("--log-dir")
        .arg(dir.path().join("log"))
        .args(["--headless", "-q", "--interval"])
        .arg(row.interval.to_string())
        .env_remove("SSL_CERT_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Every event found its marketplace and polled it, then one more interval to settle.
    let started = Instant::now();
    loop {
        let polled: std::collections::HashSet<String> =
            market_polls(&sim).into_iter().map(|(_, p)| p).collect();
        if polled.len() >= row.events as usize {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {} events polled after 2 min",
            polled.len(),
            row.events
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs_f64(row.interval.max(0.2)));
    let (from, cpu_from) = (Instant::now(), cpu(pid));
    std::thread::sleep(window);
    let (to, cpu_to) = (Instant::now(), cpu(pid));
    let (rss_kb, anon_kb) = memory(pid);
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    let _ = child.wait();
    let polls = market_polls(&sim);
    let in_window: Vec<_> = polls
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .collect();
    // Per event: its polls over the window (with the last one before it, for the first gap).
    let mut by_event: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (at, path) in &polls {
        if *at < to {
            by_event.entry(path.as_str()).or_default().push(*at);
        }
    }
    let (mut worst, mut off) = (0.0f64, 0usize);
    for times in by_event.values() {
        let gaps: Vec<f64> = times
            .windows(2)
            .filter(|w| w[1] >= from)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
        worst = gaps.iter().fold(worst, |a, &g| a.max(g));
        if row.interval > 0.0 && (gaps.is_empty() || (mean / row.interval - 1.0).abs() > 0.25) {
            off += 1;
        }
    }
    let regular = row.interval > 0.0;
    Figures {
        polls: in_window.len(),
        cpu_per_poll: (cpu_to - cpu_from) / (in_window.len().max(1) as u32),
        rss_kb,
        anon_kb,
        connections: sim.connections(),
        worst_gap: regular.then_some(worst / row.interval),
        off: regular.then_some(off),
    }
}

fn main() {
    let rows: Vec<Row> = std::env::var("SCALE_ROWS")
        .unwrap_or_else(|_| "1x0,100x2,1000x2,1000x15".into())
        .split(',')
        .filter_map(|r| {
            let (e, i) = r.trim().split_once('x')?;
            Some(Row {
                events: e.parse().ok()?,
                interval: i.parse().ok()?,
            })
        })
        .collect();
    let window = Duration::from_secs(
        std::env::var("SCALE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let rt = common::runtime();
    // Every page of the executable in the page cache: the RSS at its largest (as poll_cost).
    std::fs::read(bin()).unwrap();
    println!(
        "scale (built-in strategy, simulator on loopback: TLS, HTTP/2; a {}s window):",
        window.as_secs()
    );
    println!(
        "  events  interval   polls  CPU/poll    RSS    anon  connections  worst gap  events off ±25%"
    );
    for row in &rows {
        let f = run(&rt, row, window);
        let mb = |kb: i64| kb as f64 / 1024.0;
        println!(
            "  {:>6}  {:>7}s  {:>6}  {:>6.0}µs  {:>5.1}MB {:>5.1}MB  {:>11}  {:>9}  {:>16}",
            row.events,
            row.interval,
            f.polls,
            f.cpu_per_poll.as_secs_f64() * 1e6,
            mb(f.rss_kb),
            mb(f.anon_kb),
            f.connections,
            f.worst_gap.map_or("-".to_string(), |g| format!("{g:.2}x")),
            f.off.map_or("-".to_string(), |o| o.to_string()),
        );
    }
}
