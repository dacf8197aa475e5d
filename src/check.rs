//! `pretix-race check`: rehearses a strategy against every simulated scenario, strictly (an error
//! in a decision fails it), each in a process of its own (the real binary, as a user runs it), and
//! prints one row per scenario: outcome, polls, time and the first error at the user's file:line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli::{CheckArgs, Strategy};
use crate::error::AppError;

/// One scenario to rehearse (a cart is the expected outcome of each): its name and extra flags.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const MARKETPLACE: &[Case] = &[
    Case {
        name: "standard",
        args: &[],
    },
    Case {
        name: "instant",
        args: &[],
    },
    Case {
        name: "inactive",
        args: &["--poll-inactive-marketplace", "0.1"],
    },
    Case {
        name: "busy",
        args: &[],
    },
    Case {
        name: "chaos",
        args: &[],
    },
    Case {
        name: "many",
        args: &[],
    },
    Case {
        name: "pair",
        args: &[],
    },
    Case {
        name: "instant",
        args: &["--events", "2"],
    },
    Case {
        name: "random",
        args: &["--seed", "1"],
    },
    Case {
        name: "random",
        args: &["--seed", "2"],
    },
];

const SHOP: &[Case] = &[Case {
    name: "shop",
    args: &["--strategy", "shop"],
}];

struct Row {
    label: String,
    ok: bool,
    outcome: String,
    polls: String,
    secs: f64,
    error: String,
}

pub async fn run(a: CheckArgs) -> Result<(), AppError> {
    let exe = std::env::current_exe()
        .map_err(|e| AppError::failure(format!("cannot find pretix-race itself: {e}"), None))?;
    let cases = match a.strategy {
        Strategy::Shop if a.script.is_none() => SHOP,
        _ => MARKETPLACE,
    };
    let dir = std::env::temp_dir().join(format!("pretix-race-check-{}", std::process::id()));
    let mut rows = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        rows.push(rehearse(&exe, &a, case, &dir.join(i.to_string())).await);
    }
    let _ = std::fs::remove_dir_all(&dir);
    crate::outln!(
        "{:<42} {:<6} {:<22} {:>6} {:>7}  first error",
        "scenario",
        "result",
        "outcome",
        "polls",
        "time"
    );
    for r in &rows {
        crate::outln!(
            "{:<42} {:<6} {:<22} {:>6} {:>6.1}s  {}",
            r.label,
            if r.ok { "ok" } else { "FAIL" },
            r.outcome,
            r.polls,
            r.secs,
            r.error
        );
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(AppError::failure(
            format!("{failed} of {} scenarios failed", rows.len()),
            Some("rehearse one with `pretix-race rehearse --scenario NAME --script FILE --strict` to see it whole".into()),
        ));
    }
    crate::outln!("all {} scenarios secured a cart", rows.len());
    Ok(())
}

async fn rehearse(exe: &PathBuf, a: &CheckArgs, case: &Case, dir: &std::path::Path) -> Row {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("rehearse");
    if !case.args.contains(&"--seed") {
        cmd.args(["--scenario", case.name]);
    }
    cmd.args(case.args)
        .args([
            "--headless",
            "--strict",
            "--interval",
            "0",
            "--webhook-retry-pause",
            "0",
        ])
        .arg("--until")
        .arg(format!("{}s", a.timeout.as_secs().max(1)))
        .arg("--log-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(s) = &a.script {
        cmd.arg("--script").arg(s);
    }
    let label = format!("{} {}", case.name, case.args.join(" "))
        .trim()
        .to_string();
    let start = Instant::now();
    let out = tokio::time::timeout(a.timeout + Duration::from_secs(10), cmd.output()).await;
    let secs = start.elapsed().as_secs_f64();
    let Ok(Ok(out)) = out else {
        return Row {
            label,
            ok: false,
            outcome: "did not finish".into(),
            polls: "-".into(),
            secs,
            error: String::new(),
        };
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    let carted = stdout.contains("=== TICKET IN CART");
    let outcome = match code {
        0 if carted => "cart secured".to_string(),
        0 => "ended without a cart".to_string(),
        3 => "script error".to_string(),
        4 => "nothing in time".to_string(),
        c => format!("failed (exit {c})"),
    };
    // The summary line: "done: N polls, …" (or "gave up: …", "stopped …: …").
    let polls = stderr
        .lines()
        .filter(|l| l.contains(" polls, "))
        .find_map(|l| {
            let n = l.split(": ").nth(1)?.split(" polls").next()?;
            n.chars().all(|c| c.is_ascii_digit()).then(|| n.to_string())
        })
        .unwrap_or_else(|| "-".into());
    let error = stderr
        .lines()
        .find(|l| l.contains("error in ") || l.contains("decision `") || l.contains("× "))
        .map(|l| l.trim().trim_start_matches("× ").to_string())
        .unwrap_or_default();
    Row {
        label,
        ok: code == 0 && carted,
        outcome,
        polls,
        secs,
        error,
    }
}
