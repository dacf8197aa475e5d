//! What the benchmarks that run the release binary against the simulator share: the runtime the
//! simulator runs on, a simulator with its CA written out, the binary's arguments to reach it.

#![allow(dead_code)] // each benchmark uses its own part of this

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pretix_race::sim::{Scenario, Sim};

/// The runtime the simulator runs on, beside the binary under test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A simulator of the named scenario whose listings show from poll `from`, and its CA written
/// into `dir` for `--ca-cert`.
pub fn sim(rt: &tokio::runtime::Runtime, name: &str, from: u32, dir: &Path) -> (Sim, PathBuf) {
    let mut scenario = Scenario::named(name).unwrap();
    scenario.listings_from_poll = from;
    let sim = rt.block_on(Sim::start(scenario)).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    (sim, ca)
}

/// Points `cmd` (the binary, or a wrapper of it) at `sim`, trusting `ca`, logging under `dir`.
pub fn at_sim<'a>(cmd: &'a mut Command, sim: &Sim, ca: &Path, dir: &Path) -> &'a mut Command {
    cmd.args(["--url", sim.base_url().as_str(), "--event", sim.event()])
        .arg("--ca-cert")
        .arg(ca)
        .arg("--log-dir")
        .arg(dir.join("log"))
        .env_remove("SSL_CERT_FILE")
}

/// The middle sample.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// "Hand-over took 91ms after the cart was secured." as a duration.
pub fn took(stdout: &str) -> Duration {
    let figure = stdout
        .split("Hand-over took ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("no hand-over figure in:\n{stdout}"));
    let ms: f64 = match figure.strip_suffix("ms") {
        Some(ms) => ms.parse().unwrap(),
        None => figure.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0,
    };
    Duration::from_secs_f64(ms / 1000.0)
}
