//! CPU per poll: what a long watch costs a laptop or a small server, and how far that is from the
//! floor. Runs the real release binary (interval 0) twice, with few and with many polls, and
//! divides the difference in the child's user+system CPU time by the difference in polls, so
//! start-up and the TLS handshake drop out. Two rows:
//!
//! 1. **What users run**: a real nginx (Debian's, started here with its own config in a temp
//!    folder, on a free loopback port) serving a live-sized marketplace page (`fixtures/`, ≈ 15 KB,
//!    shaped like a real pretix one, its `data-now` and theme version changing on every load as
//!    there) over TLS and HTTP/2. In the same round `h2load` (nghttp2's C load tester: one client,
//!    one connection, one stream at a time, no parsing) fetches the same URL as many times, measured
//!    the same way: the floor a client of this server can reach. The ratio is ours over its.
//! 2. **The simulator** (its 1.5 KB page, TLS and HTTP/2), the figure the README quoted first.
//!
//! Memory is checked, not only reported: over a run of 10 000 polls the peak RSS must stay under
//! 16 MB, and with its anonymous part within 1 MB of a run of 200 (flat: nothing grows per poll);
//! the anonymous part (the program's own memory) must stay under 8 MB. Otherwise the benchmark
//! fails. Most of the RSS is the executable's own pages, and how many of those a process maps
//! depends on how much of the file is in the page cache (the kernel maps cached neighbours of
//! each page it faults in), so each run first reads the whole executable: the figure is the
//! largest the RSS can be, as after a fresh build.
//!
//! `POLL_COST_BIN=/path/to/pretix-race` measures another build of the binary (to compare builds
//! side by side: this VM's figures drift, see README, Speed); `POLL_COST_ROUNDS` sets the rounds.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

const FEW: u32 = 200;
const MANY: u32 = FEW + 10_000;
/// Memory allowed for a long watch (whole, and anonymous: the program's own), and growth of the
/// peak RSS allowed from a short run to a long one (kB).
const RSS_LIMIT_KB: i64 = 16 * 1024;
const ANON_LIMIT_KB: i64 = 8 * 1024;
const RSS_GROWTH_KB: i64 = 1024;

/// The event the nginx row serves, and its pages (the marketplace's as pretix's live one is shaped).
const EVENT: &str = "hl27";
const EVENT_PAGE: &str = include_str!("fixtures/event.html");
const MARKET_PAGE: &str = include_str!("fixtures/marketplace_empty.html");

/// The binary under test.
fn binary() -> PathBuf {
    std::env::var_os("POLL_COST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pretix-race")))
}

/// Where a run polls: the shop's base URL (up to the event), the event, and the CA to trust.
struct Shop {
    url: String,
    event: String,
    ca: PathBuf,
}

/// (CPU time, memory) of one run of `polls` empty polls of `shop`.
fn run(shop: &Shop, polls: u32, dir: &Path) -> (Duration, Memory) {
    // The marketplace is found as a user's run finds it (the event page's link); the first
    // answer is checked once, to be sure the page reads as an open, empty marketplace.
    run_script(
        shop,
        &format!(
            "local race = require('race')\nlocal s = race.session\nlocal url = assert(s:discover())\n\
             local p = assert(s:poll(url))\n\
             assert(p.state == 'open' and #p.listings == 0, 'not an open, empty marketplace: ' .. p.state)\n\
             for _ = 2, {polls} do assert(s:poll(url)) end\nreturn true\n"
        ),
        dir,
    )
}

/// (CPU time, memory) of a run that polls once and then waits `secs` seconds: what the process
/// costs while it waits between polls (the supervisor's and the runtime heartbeat's wake-ups).
fn idle(shop: &Shop, secs: u32, dir: &Path) -> (Duration, Memory) {
    run_script(
        shop,
        &format!(
            "local race = require('race')\nlocal s = race.session\nassert(s:poll(assert(s:discover())))\n\
             race.time.sleep({secs})\nreturn true\n"
        ),
        dir,
    )
}

/// (CPU time, memory) of one run of the binary with the strategy `lua`, against `shop`.
fn run_script(shop: &Shop, lua: &str, dir: &Path) -> (Duration, Memory) {
    let script = dir.join("polls.lua");
    std::fs::write(&script, lua).unwrap();
    let bin = binary();
    // Every page of the executable in the page cache: the RSS at its largest (see the top).
    std::fs::read(&bin).unwrap();
    // POLL_COST_WRAP="perf record -g -o /tmp/perf.data" profiles the child (see README, Speed).
    let wrap = std::env::var("POLL_COST_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(wrap).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    // Reaped by `wait4` below (for this one child's figures), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .args(["--url", &shop.url, "--event", &shop.event])
        .arg("--ca-cert")
        .arg(&shop.ca)
        .arg("--log-dir")
        .arg(dir.join("log"))
        .env_remove("SSL_CERT_FILE")
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

impl Memory {
    fn max(self, o: Memory) -> Memory {
        Memory {
            peak: self.peak.max(o.peak),
            anon: self.anon.max(o.anon),
        }
    }
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

/// A private nginx serving the fixtures over TLS and HTTP/2 on a loopback port; stopped when
/// dropped.
struct Nginx {
    child: Child,
    shop: Shop,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let www = dir.join("www").join(EVENT);
        std::fs::create_dir_all(www.join("secondhand")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(www.join("index.html"), EVENT_PAGE).unwrap();
        std::fs::write(www.join("secondhand").join("index.html"), MARKET_PAGE).unwrap();
        let (ca, chain, key) = certificates();
        std::fs::write(dir.join("ca.pem"), ca).unwrap();
        std::fs::write(dir.join("cert.pem"), chain).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        // A free port: the kernel picks one, nginx binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        // One process (no master, so no switch to another user that could not read a private
        // temp folder), no log but errors. `ssi` makes `data-now` and the theme's `?version=`
        // differ on every load, as pretix's do. `keepalive_requests`: h2load does not reconnect
        // after the GOAWAY nginx sends past it (1000 by default, as the live front end's).
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  default_type text/html;\n  client_body_temp_path {d}/tmp;\n  \
             proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  \
             scgi_temp_path {d}/tmp;\n  server {{\n    listen 127.0.0.1:{port} ssl http2;\n    \
             ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n    \
             root {d}/www;\n    ssi on;\n    keepalive_requests 1000000;\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (/usr/sbin/nginx: .ci/install-deps installs it)");
        let mut nginx = Nginx {
            child,
            shop: Shop {
                url: format!("https://127.0.0.1:{port}"),
                event: EVENT.to_string(),
                ca: dir.join("ca.pem"),
            },
        };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nginx did not listen on port {port}");
    }

    fn market_url(&self) -> String {
        format!("{}/{EVENT}/secondhand/", self.shop.url)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway CA, and a certificate it signs for 127.0.0.1 with its key: (CA, chain, key) PEM.
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let chain = format!("{}{}", leaf.pem(), ca_cert.pem());
    (ca_cert.pem(), chain, key.serialize_pem())
}

/// h2load's user+system CPU for `n` requests of `url`, one connection, one stream at a time.
fn h2load(url: &str, n: u32) -> Duration {
    // Reaped by `wait4` (for its CPU), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new("/usr/bin/h2load")
        .args(["-n", &n.to_string(), "-c", "1", "-m", "1", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("h2load (/usr/bin/h2load, from nghttp2-client: .ci/install-deps installs it)");
    // Its report is a few lines: the pipe holds it until it is read after the exit.
    let (ok, (cpu, _)) = wait_with_usage(child.id());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let want = format!("{n} succeeded");
    assert!(ok && out.contains(&want), "h2load failed:\n{out}");
    cpu
}

/// CPU per poll over `rounds` rounds of a short and a long run, and the peak memory of each.
fn per_poll(mut measure: impl FnMut(u32) -> (Duration, Memory)) -> (Duration, Memory, Memory) {
    let (few, short) = measure(FEW);
    let (many, long) = measure(MANY);
    (many.saturating_sub(few) / (MANY - FEW), short, long)
}

fn main() {
    let rounds: usize = std::env::var("POLL_COST_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx"));
    let (sim, sim_ca) = common::sim(&rt, "quiet", u32::MAX, dir.path());
    let sim_shop = Shop {
        url: sim.base_url().to_string(),
        event: sim.event().to_string(),
        ca: sim_ca,
    };
    let page = MARKET_PAGE.len();
    let (mut ours, mut floor, mut ratio, mut sims) = (vec![], vec![], vec![], vec![]);
    let (mut short, mut long) = (Memory::default(), Memory::default());
    for _ in 0..rounds {
        let (o, s, l) = per_poll(|n| run(&nginx.shop, n, dir.path()));
        let (h, _, _) = per_poll(|n| (h2load(&nginx.market_url(), n), Memory::default()));
        let (si, s2, l2) = per_poll(|n| run(&sim_shop, n, dir.path()));
        short = short.max(s).max(s2);
        long = long.max(l).max(l2);
        ratio.push(o.as_secs_f64() / h.as_secs_f64().max(1e-9));
        ours.push(o);
        floor.push(h);
        sims.push(si);
    }
    // Idle: a run that waits 1 s against one that waits 11 s, once.
    let (idle_short, _) = idle(&nginx.shop, 1, dir.path());
    let (idle_long, _) = idle(&nginx.shop, 11, dir.path());
    let idle_per_s = idle_long.saturating_sub(idle_short) / 10;
    let mid = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    ratio.sort_by(f64::total_cmp);
    let mb = |kb: i64| kb as f64 / 1024.0;
    println!(
        "poll cost (process CPU per empty poll, TLS + HTTP/2 on loopback, interval 0; median of {rounds} rounds of {} polls):\n  \
         nginx, live-sized page ({:.1} KB): ours {:.1?}, h2load {:.1?}: {:.2}x the floor (rounds: {})\n  \
         simulator (small page):           ours {:.1?} (rounds: {})\n  \
         idle, between polls: {:.1?} of CPU per second\n\
         peak RSS: {:.1} MB after {FEW} polls, {:.1} MB after {MANY} (limit {} MB, growth allowed: {} MB)\n\
         of it anonymous (the program's own): {:.1} MB, then {:.1} MB (limit {} MB)",
        MANY - FEW,
        page as f64 / 1024.0,
        mid(&mut ours),
        mid(&mut floor),
        ratio[ratio.len() / 2],
        ours.iter()
            .zip(&floor)
            .map(|(o, h)| format!("{o:.1?}/{h:.1?}"))
            .collect::<Vec<_>>()
            .join(", "),
        mid(&mut sims),
        sims.iter()
            .map(|s| format!("{s:.1?}"))
            .collect::<Vec<_>>()
            .join(", "),
        idle_per_s,
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
    // `exit` runs no destructors: nginx is stopped and the temp folder removed first.
    drop(nginx);
    drop(dir);
    if !wrapped && (over || grew) {
        eprintln!("poll_cost: memory check FAILED");
        std::process::exit(1);
    }
}
