//! Hand-over: from the cart secured to the checkout page loaded in the browser, as the tool prints
//! it ("Hand-over took …"), with a browser started at the hand-over (the default) and with one
//! started at start-up on the status page (`--browser-early`). Runs the real release binary and a
//! real Chromium ($CHROME, else /usr/bin/chromium; headless, as no display is assumed here)
//! against the simulator; the listing shows after a few seconds, once an early browser is up.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

const SAMPLES: usize = 5;

fn sample(rt: &tokio::runtime::Runtime, dir: &Path, early: bool) -> Duration {
    let (sim, ca) = common::sim(rt, "instant", 12, dir);
    let chromium = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let wrapper = dir.join("chromium-headless");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {chromium} --headless=new {} \"$@\"\n",
            sim.browser_trust_arg()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pretix-race"));
    common::at_sim(&mut cmd, &sim, &ca, dir)
        .args(["-q", "--interval", "0.25"])
        .env("CHROME", &wrapper)
        .stderr(Stdio::null());
    if early {
        cmd.arg("--browser-early");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The window is the person's and outlives the run: close it (its whole process group).
    if let Some(pid) = stdout
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|p| p.parse::<i32>().ok())
    {
        // SAFETY: kill(2) on the process group the hand-over created for the browser.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    assert!(out.status.success(), "{stdout}");
    common::took(&stdout)
}

fn main() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let cold: Vec<_> = (0..SAMPLES)
        .map(|_| sample(&rt, dir.path(), false))
        .collect();
    let early: Vec<_> = (0..SAMPLES)
        .map(|_| sample(&rt, dir.path(), true))
        .collect();
    println!(
        "hand-over (cart secured -> checkout loaded in Chromium, headless, loopback):\n  \
         browser started at the hand-over: median {:.0?} (min {:.0?})\n  \
         --browser-early (same tab):       median {:.0?} (min {:.0?})  ({SAMPLES} runs each)",
        common::median(cold.clone()),
        cold.iter().min().unwrap(),
        common::median(early.clone()),
        early.iter().min().unwrap(),
    );
}
