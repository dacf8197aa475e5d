//! Detect-to-cart on loopback, as the marketplace sees it: from the moment the simulator's answer
//! with a fresh listing is ready to the moment the cart POST for it arrives. Everything between is
//! ours: reading the answer, parsing it, the Lua strategy's decision (the built-in default), and
//! sending the POST on the open HTTP/2 connection. Runs the real release binary once per sample.
//!
//! Then the same with the listing showing on the poll that is request ~500 and on the one that is
//! request ~950 of the connection, where the session swaps connections: the swap happens in the
//! background and on a poll, never between a poll and its POST, so both cost the same.

use std::process::{Command, Stdio};
use std::time::Duration;

use pretix_race::sim::Scenario;

mod common;

const SAMPLES: usize = 25;

/// Detect-to-cart of one run of the default strategy at interval `interval`, the listing showing
/// from poll `from`.
fn sample(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    from: u32,
    interval: &str,
) -> Duration {
    let (sim, ca) = common::sim(rt, "instant", from, dir);
    let status = common::at_sim(
        &mut Command::new(env!("CARGO_BIN_EXE_pretix-race")),
        &sim,
        &ca,
        dir,
    )
    .args(["--headless", "-q", "--interval", interval])
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
    post.at - poll.replied.expect("answered")
}

fn main() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut samples: Vec<Duration> = Vec::new();
    let from = Scenario::named("instant").unwrap().listings_from_poll;
    for _ in 0..SAMPLES {
        samples.push(sample(&rt, dir.path(), from, "0.01"));
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
    // The event page is request 1, so the listing's poll is request `from + 1`, its POST the next.
    let at = |from: u32| {
        common::median(
            (0..SWAP_SAMPLES)
                .map(|_| sample(&rt, dir.path(), from, "0"))
                .collect(),
        )
    };
    let (mid, swap) = (at(499), at(949));
    println!(
        "  cart POST as request ~501: median {mid:.3?};  as request ~951 (connection swap due): \
         median {swap:.3?}  ({SWAP_SAMPLES} runs each)"
    );
}

const SWAP_SAMPLES: usize = 7;
