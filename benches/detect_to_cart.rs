//! Detect-to-cart on loopback, as the marketplace sees it: from the moment the simulator's answer
//! with a fresh listing is ready to the moment the cart POST for it arrives. Everything between is
//! ours: reading the answer, parsing it, the Lua strategy's decision (the built-in default), and
//! sending the POST on the open HTTP/2 connection. Runs the real release binary once per sample.

use std::process::{Command, Stdio};
use std::time::Duration;

use pretix_race::sim::{Scenario, Sim};

const SAMPLES: usize = 25;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_pretix-race");
    let dir = tempfile::tempdir().unwrap();
    let mut samples: Vec<Duration> = Vec::new();
    for _ in 0..SAMPLES {
        let sim = rt
            .block_on(Sim::start(Scenario::named("instant").unwrap()))
            .unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, sim.ca_pem()).unwrap();
        let status = Command::new(bin)
            .args([
                "--url",
                sim.base_url().as_str(),
                "--event",
                sim.event(),
                "--headless",
                "-q",
            ])
            .args(["--interval", "0.01", "--ca-cert"])
            .arg(&ca)
            .arg("--log-dir")
            .arg(dir.path().join("log"))
            .env_remove("SSL_CERT_FILE")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let seen = sim.seen();
        let post = seen
            .iter()
            .find(|s| s.method == "POST")
            .expect("a cart POST");
        let poll = seen
            .iter()
            .rfind(|s| s.path.ends_with("/secondhand/") && s.at < post.at)
            .expect("the poll that showed the listing");
        samples.push(post.at - poll.replied.expect("answered"));
    }
    samples.sort();
    let q = |f: f64| samples[((samples.len() - 1) as f64 * f) as usize];
    println!(
        "detect-to-cart (poll answer ready -> cart POST arrives), loopback, default strategy:\n  \
         median {:.3?}  p90 {:.3?}  min {:.3?}  ({SAMPLES} runs)",
        q(0.5),
        q(0.9),
        samples[0]
    );
}
