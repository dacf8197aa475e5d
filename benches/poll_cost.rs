//! CPU per poll: what a long watch costs a laptop or a small server. Runs the real release binary
//! against the simulator (TLS, HTTP/2, empty marketplace pages, interval 0) twice, with few and
//! with many polls, and divides the difference in the child's user+system CPU time by the
//! difference in polls, so start-up and the TLS handshake drop out.
//!
//! Memory is checked, not only reported: over a run of 10 000 polls the peak RSS must stay under
//! 16 MB, and with its anonymous part within 1 MB of a run of 200 (flat: nothing grows per poll);
//! the anonymous part (the program's own memory) must stay under 8 MB. Otherwise the benchmark
//! fails. Most of the RSS is the executable's own pages, and how many of those a process maps
//! depends on how much of the file is in the page cache (the kernel maps cached neighbours of
//! each page it faults in), so each run first reads the whole executable: the figure is the
//! largest the RSS can be, as after a fresh build.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

const FEW: u32 = 200;
const MANY: u32 = FEW + 10_000;
/// Memory allowed for a long watch (whole, and anonymous: the program's own), and growth of the
/// peak RSS allowed from a short run to a long one (kB).
const RSS_LIMIT_KB: i64 = 16 * 1024;
const ANON_LIMIT_KB: i64 = 8 * 1024;
const RSS_GROWTH_KB: i64 = 1024;

/// (CPU time, memory) of one run of `polls` empty polls.
fn run(rt: &tokio::runtime::Runtime, polls: u32, dir: &std::path::Path) -> (Duration, Memory) {
    let (sim, ca) = common::sim(rt, "quiet", u32::MAX, dir);
    let script = dir.join("polls.lua");
    std::fs::write(
        &script,
        format!(
            "local race = require('race')\nlocal s = race.session\nlocal url = race.options.event_url .. 'secondhand/'\nfor _ = 1, {polls} do assert(s:poll(url)) end\nreturn true\n"
        ),
    )
    .unwrap();
    // Every page of the executable in the page cache: the RSS at its largest (see the top).
    std::fs::read(env!("CARGO_BIN_EXE_pretix-race")).unwrap();
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
    let child = common::at_sim(&mut cmd, &sim, &ca, dir)
        .args(["--headless", "-q", "--interval", "0", "--script"])
        .arg(&script)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (ok, usage) = wait_with_usage(child.id());
    assert!(ok, "the poll run failed");
    usage
}

/// Memory of a run, in kB: the peak RSS (`VmHWM`), and the peak of its anonymous part (the
/// program's own heap and stacks; the rest is pages of the executable and libraries).
#[derive(Clone, Copy, Default)]
struct Memory {
    peak: i64,
    anon: i64,
}

/// Waits for the child `pid`; whether it exited 0, its user+system CPU (from `wait4`: this one
/// child's) and its memory, read from /proc every few ms while it runs (`ru_maxrss` would count
/// the copy of this benchmark's memory the child was forked from, before it exec'd).
fn wait_with_usage(pid: u32) -> (bool, (Duration, Memory)) {
    let status_file = format!("/proc/{pid}/status");
    let mut mem = Memory::default();
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            let kb = |key: &str| {
                s.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                    .unwrap_or(0)
            };
            mem.peak = mem.peak.max(kb("VmHWM:"));
            mem.anon = mem.anon.max(kb("RssAnon:"));
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
            return (ok, (t(u.ru_utime) + t(u.ru_stime), mem));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut per_poll = Vec::new();
    let (mut short, mut long) = (Memory::default(), Memory::default());
    let max = |a: Memory, b: Memory| Memory {
        peak: a.peak.max(b.peak),
        anon: a.anon.max(b.anon),
    };
    for _ in 0..3 {
        let (few, short_mem) = run(&rt, FEW, dir.path());
        let (many, long_mem) = run(&rt, MANY, dir.path());
        short = max(short, short_mem);
        long = max(long, long_mem);
        per_poll.push(many.saturating_sub(few) / (MANY - FEW));
    }
    let mb = |kb: i64| kb as f64 / 1024.0;
    per_poll.sort();
    println!(
        "poll cost (process CPU per empty poll, TLS + HTTP/2 on loopback, interval 0):\n  \
         median {:.1?}  min {:.1?}  ({} x {} polls)\n\
         peak RSS: {:.1} MB after {FEW} polls, {:.1} MB after {MANY} (limit {} MB, growth allowed: {} MB)\n\
         of it anonymous (the program's own): {:.1} MB, then {:.1} MB (limit {} MB)",
        per_poll[1],
        per_poll[0],
        per_poll.len(),
        MANY - FEW,
        mb(short.peak),
        mb(long.peak),
        RSS_LIMIT_KB / 1024,
        RSS_GROWTH_KB / 1024,
        mb(short.anon),
        mb(long.anon),
        ANON_LIMIT_KB / 1024,
    );
    // Wrapped (a profiler), the memory read is the wrapper's: nothing to check.
    let wrapped = std::env::var_os("POLL_COST_WRAP").is_some_and(|w| !w.is_empty());
    let grew = long.peak - short.peak > RSS_GROWTH_KB || long.anon - short.anon > RSS_GROWTH_KB;
    let over = long.peak > RSS_LIMIT_KB || long.anon > ANON_LIMIT_KB;
    if !wrapped && (over || grew) {
        eprintln!("poll_cost: memory check FAILED");
        std::process::exit(1);
    }
}
